"""The owner view: the newer of a conversation's own change and its tenant's switch decides,
an expired change hands back to the bot, another tenant's switch never applies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
)
from shared.views.conversation_owners import ConversationOwners

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TENANT = uuid.uuid4()
KEY = "whatsapp:+33100000000:+33600000000"


def change(
    owner: ConversationOwner,
    at: datetime,
    *,
    key: str | None = KEY,
    user_id: uuid.UUID = TENANT,
    until: datetime | None = None,
) -> ConversationOwnerChanged:
    return ConversationOwnerChanged(
        user_id=user_id,
        conversation_key=key,
        owner=owner,
        until=until,
        changed_by=OwnerChangedBy.TENANT_API,
        occurred_at=at,
    )


def test_bot_by_default() -> None:
    assert ConversationOwners().current(TENANT, KEY, T0).bot_answers


def test_newer_of_own_and_tenant_wide_decides() -> None:
    view = ConversationOwners()
    view.apply(change(ConversationOwner.HUMAN, T0))
    view.apply(change(ConversationOwner.PAUSED, T0 + timedelta(minutes=1), key=None))
    assert view.current(TENANT, KEY, T0 + timedelta(minutes=2)).owner is ConversationOwner.PAUSED
    view.apply(change(ConversationOwner.BOT, T0 + timedelta(minutes=3), key=None))
    assert view.current(TENANT, KEY, T0 + timedelta(minutes=4)).bot_answers


def test_an_older_change_arriving_late_is_ignored() -> None:
    view = ConversationOwners()
    view.apply(change(ConversationOwner.BOT, T0 + timedelta(minutes=1)))
    view.apply(change(ConversationOwner.HUMAN, T0))
    assert view.current(TENANT, KEY, T0 + timedelta(minutes=2)).bot_answers


def test_expiry_brings_the_bot_back() -> None:
    view = ConversationOwners()
    view.apply(change(ConversationOwner.HUMAN, T0, until=T0 + timedelta(hours=12)))
    assert view.current(TENANT, KEY, T0 + timedelta(hours=11)).owner is ConversationOwner.HUMAN
    state = view.current(TENANT, KEY, T0 + timedelta(hours=12))
    assert state.bot_answers and state.changed_by is OwnerChangedBy.EXPIRY


def test_another_tenants_switch_does_not_apply() -> None:
    view = ConversationOwners()
    other = uuid.uuid4()
    view.apply(change(ConversationOwner.PAUSED, T0, key=None, user_id=other))
    assert view.current(TENANT, KEY, T0 + timedelta(seconds=1)).bot_answers
