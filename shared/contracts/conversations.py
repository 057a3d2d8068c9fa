"""Conversations as a business sees them: turns, who answers (bot / human / paused).

A *turn* is the customer's messages of one conversation that arrived within the tenant's
quiet window; the responder answers a turn with one model call. `TurnStarted` goes out on
`messages.outcomes.v1` when the model starts (the gateway marks the last message read and
shows the typing indicator). `ConversationOwnerChanged` goes on `conversations.owner.v1`
(compacted, keyed by `owner_key`): the config API (tenant pauses / resumes), the gateway
(a business reply echoed from the phone) and the responder (a customer asks for a human,
the model hands off, repeated failures) write it; the responder and the gateway keep a view
of it and re-check it right before answering and before sending.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.envelope import Envelope
from shared.contracts.messages import Channel, MessageEvent, MessageOutcome


class ConversationOwner(StrEnum):
    BOT = "bot"
    HUMAN = "human"  # a person at the business answers; messages are stored, not answered
    PAUSED = "paused"  # the tenant stopped the bot for this conversation (or all of them)


class OwnerChangedBy(StrEnum):
    TENANT_API = "tenant_api"
    BUSINESS_ECHO = "business_echo"  # smb_message_echoes: the owner answered from the phone
    CUSTOMER_REQUEST = "customer_request"  # a handoff phrase
    MODEL_HANDOFF = "model_handoff"  # the model's structured answer said action=handoff
    REPEATED_FAILURES = "repeated_failures"
    EXPIRY = "expiry"
    LIMIT_REACHED = "limit_reached"  # issue 16: over a limit with no model left to answer


class ConversationOwnerChanged(Envelope):
    """Who answers one conversation (conversation_key set) or all of a tenant's (None)."""

    event_type: Literal["ConversationOwnerChanged"] = "ConversationOwnerChanged"
    user_id: uuid.UUID
    conversation_key: str | None = Field(
        description="None: every conversation of the tenant (a tenant-wide pause / resume)"
    )
    owner: ConversationOwner
    until: datetime | None = Field(
        default=None, description="When the bot takes over again by itself; None = no expiry"
    )
    changed_by: OwnerChangedBy
    actor: str | None = Field(default=None, description="The API caller's user id, if any")
    message_id: str | None = Field(default=None, description="The message that caused it")
    reason: str = Field(default="", max_length=500)


def owner_key(event: ConversationOwnerChanged) -> str:
    """Compaction key: the latest change per conversation, and one per tenant-wide switch."""
    return event.conversation_key or f"tenant:{event.user_id}"


class TurnStarted(MessageEvent):
    """The model starts on a turn; message_id is the turn's last message."""

    event_type: Literal["TurnStarted"] = "TurnStarted"
    user_id: uuid.UUID | None
    channel: Channel
    customer_phone: str
    phone_number_id: str | None = None
    business_phone: str | None = None
    turn_message_ids: list[str] = Field(description="The turn's messages, in arrival order")
    source: str = Field(
        default="",
        description="The last message's source label ('whatsapp', 'sms'…, as in "
        "MessageReceived): Twilio shows a typing indicator on WhatsApp only",
    )


OutcomeTopicEvent = Annotated[MessageOutcome | TurnStarted, Field(discriminator="event_type")]
"""Everything on messages.outcomes.v1 (MessageOutcome is what answers a waiting caller)."""
