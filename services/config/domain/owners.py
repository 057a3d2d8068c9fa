"""A tenant's owner change, as the config API publishes it (pure)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
)

DEFAULT_HUMAN_EXPIRY_S = 43200  # the contract's default (ConversationSettingsChanged)


def owner_change(
    user_id: uuid.UUID,
    conversation_key: str | None,
    owner: ConversationOwner,
    until: datetime | None,
    *,
    until_given: bool,
    expiry_s: int,
    actor: uuid.UUID,
    now: datetime,
) -> ConversationOwnerChanged:
    """`until` left out: a human or a pause ends after the tenant's expiry; the bot has none."""
    if owner is ConversationOwner.BOT:
        until = None
    elif not until_given:
        until = now + timedelta(seconds=expiry_s)
    return ConversationOwnerChanged(
        user_id=user_id,
        conversation_key=conversation_key,
        owner=owner,
        until=until,
        changed_by=OwnerChangedBy.TENANT_API,
        actor=str(actor),
        occurred_at=now,
    )
