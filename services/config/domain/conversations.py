"""Conversations as the tenant sees them, from projected events (pure).

A conversation's traffic comes from its identified messages (`UserIdentified` with a
tenant), its owner from `ConversationOwnerChanged` (conversations.owner.v1). Both fold
into rows that a redelivery or a replay reproduces: traffic is added once per new event
(the projection writes only events it had not recorded), and an owner change replaces the
stored one only when it is not older.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.config.domain.projection import ProjectedEvent

IDENTIFIED = "UserIdentified"
OWNER_CHANGED = "ConversationOwnerChanged"
BOT = "bot"
EXPIRY = "expiry"


@dataclass(frozen=True)
class Activity:
    """New identified messages of one conversation in a batch."""

    user_id: uuid.UUID
    conversation_key: str
    channel: str | None
    customer_phone: str | None
    business_phone: str | None
    first_message_at: datetime
    last_message_at: datetime
    message_count: int


@dataclass(frozen=True)
class OwnerState:
    """The owner of one conversation (conversation_key set) or of all of a tenant's."""

    user_id: uuid.UUID
    conversation_key: str | None
    owner: str
    until: datetime | None
    changed_by: str | None
    actor: str | None
    reason: str | None
    message_id: str | None
    changed_at: datetime | None


def activities(events: Iterable[ProjectedEvent]) -> list[Activity]:
    """One entry per conversation, sorted by key (writers lock rows in one order)."""
    found: dict[tuple[uuid.UUID, str], Activity] = {}
    for event in events:
        if event.event_type != IDENTIFIED or event.user_id is None:
            continue
        if not event.conversation_key:
            continue
        key = (event.user_id, event.conversation_key)
        before = found.get(key)
        summary = event.summary
        found[key] = Activity(
            user_id=event.user_id,
            conversation_key=event.conversation_key,
            channel=_text(summary.get("channel")),
            customer_phone=_text(summary.get("customer_phone")),
            business_phone=_text(summary.get("business_phone")),
            first_message_at=min(event.occurred_at, before.first_message_at)
            if before
            else event.occurred_at,
            last_message_at=max(event.occurred_at, before.last_message_at)
            if before
            else event.occurred_at,
            message_count=(before.message_count if before else 0) + 1,
        )
    return [found[key] for key in sorted(found, key=lambda k: (str(k[0]), k[1]))]


def owner_states(events: Iterable[ProjectedEvent]) -> list[OwnerState]:
    """The newest change per conversation (and per tenant-wide switch) in the batch."""
    newest: dict[tuple[uuid.UUID, str | None], OwnerState] = {}
    for event in events:
        if event.event_type != OWNER_CHANGED or event.user_id is None:
            continue
        state = _owner_state(event.user_id, event)
        if state is None:
            continue
        key = (state.user_id, state.conversation_key)
        before = newest.get(key)
        if before is None or _not_older(state, before):
            newest[key] = state
    return [newest[key] for key in sorted(newest, key=lambda k: (str(k[0]), k[1] or ""))]


def parse_key(conversation_key: str) -> tuple[str | None, str | None, str | None]:
    """`channel:business:customer` → its parts (None where the key has none)."""
    parts = conversation_key.split(":", 2)
    if len(parts) != 3:
        return None, None, None
    channel, business, customer = parts
    return channel or None, None if business in ("", "-") else business, customer or None


def effective(state: OwnerState | None, now: datetime) -> OwnerState | None:
    """What holds now: a human or a pause whose `until` has passed is the bot again."""
    if state is None or state.until is None or state.until > now or state.owner == BOT:
        return state
    return OwnerState(
        user_id=state.user_id,
        conversation_key=state.conversation_key,
        owner=BOT,
        until=None,
        changed_by=EXPIRY,
        actor=None,
        reason=f"{state.owner} until {state.until.isoformat()}",
        message_id=None,
        changed_at=state.until,
    )


def _owner_state(user_id: uuid.UUID, event: ProjectedEvent) -> OwnerState | None:
    summary = event.summary
    owner = _text(summary.get("owner"))
    if owner is None:
        return None
    return OwnerState(
        user_id=user_id,
        conversation_key=_text(summary.get("conversation_key")),
        owner=owner[:16],
        until=_time(summary.get("until")),
        changed_by=_text(summary.get("changed_by")),
        actor=_text(summary.get("actor")),
        reason=_text(summary.get("reason")),
        message_id=event.message_id,
        changed_at=event.occurred_at,
    )


def _not_older(state: OwnerState, other: OwnerState) -> bool:
    return (state.changed_at or datetime.min.replace(tzinfo=UTC)) >= (
        other.changed_at or datetime.min.replace(tzinfo=UTC)
    )


def _text(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
