"""Who answers each conversation now: the latest owner change, its own or the tenant's.

Each conversation has at most one change of its own (compaction key: the conversation) and
its tenant at most one tenant-wide switch (key `tenant:<id>`). Those two keys may live on
different partitions, so the newer of the two by `occurred_at` decides; a change whose
`until` has passed hands the conversation back to the bot (expiry needs no event; whoever
notices may still publish one with `changed_by=expiry` for the record).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    owner_key,
)


@dataclass(frozen=True)
class OwnerState:
    owner: ConversationOwner
    until: datetime | None = None
    changed_by: OwnerChangedBy | None = None  # None: never changed, the bot by default
    changed_at: datetime | None = None
    reason: str = ""
    message_id: str | None = None  # the message that caused the change, if one did

    @property
    def bot_answers(self) -> bool:
        return self.owner is ConversationOwner.BOT


BOT = OwnerState(ConversationOwner.BOT)


class ConversationOwners:
    def __init__(self) -> None:
        self._latest: dict[str, ConversationOwnerChanged] = {}

    def apply(self, event: ConversationOwnerChanged) -> None:
        key = owner_key(event)
        held = self._latest.get(key)
        if held is None or event.occurred_at >= held.occurred_at:
            self._latest[key] = event

    def current(self, user_id: uuid.UUID, conversation_key: str, now: datetime) -> OwnerState:
        """The owner at `now` (timezone-aware); the bot when nothing says otherwise."""
        own = self._latest.get(conversation_key)
        tenant_wide = self._latest.get(f"tenant:{user_id}")
        candidates = [e for e in (own, tenant_wide) if e is not None and e.user_id == user_id]
        if not candidates:
            return BOT
        newest = max(candidates, key=lambda e: e.occurred_at)
        if newest.until is not None and newest.until <= now:
            return OwnerState(
                ConversationOwner.BOT,
                changed_by=OwnerChangedBy.EXPIRY,
                changed_at=newest.until,
                reason=f"{newest.owner.value} until {newest.until.isoformat()} expired",
            )
        return OwnerState(
            newest.owner,
            until=newest.until,
            changed_by=newest.changed_by,
            changed_at=newest.occurred_at,
            reason=newest.reason,
            message_id=newest.message_id,
        )

    def __len__(self) -> int:
        return len(self._latest)
