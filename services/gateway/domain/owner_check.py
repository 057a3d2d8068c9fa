"""Whether the conversation's owner lets a bot reply leave now (checked before each part)."""

from __future__ import annotations

from services.gateway.domain.replies import SendFailure
from shared.contracts.messages import ResponseGenerated
from shared.views.conversation_owners import OwnerState


def withheld_by_owner(outcome: ResponseGenerated, state: OwnerState) -> SendFailure | None:
    """The failure to record while a human or a pause owns the conversation; None when
    the bot may answer (or the reply is the acknowledgement of the handover it made)."""
    if state.bot_answers:
        return None
    answered = {outcome.message_id, *outcome.turn_message_ids}
    if state.message_id is not None and state.message_id in answered:
        return None  # the bot's last word on the handover it made (the acknowledgement)
    until = f" until {state.until.isoformat()}" if state.until else ""
    by = state.changed_by.value if state.changed_by else "unknown"
    return SendFailure(
        f"owner_{state.owner.value}",
        None,
        f"the conversation is {state.owner.value}{until} (set by {by}); not sent",
    )
