"""Conversation-history lookup: the tenant a customer number talked to most recently.

A read model of UserIdentified: `record` is its one rule, run by the live handler after it
published a batch's events and by the replay (entrypoints/replay.py) for the events in the log.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert

from services.identity.adapters.tables import identity_customer_history as history
from shared.contracts.messages import UserIdentified
from shared.db import Statements


class HistoryStore(Protocol):
    async def recent_users(
        self, customer_phones: Collection[str], since: datetime
    ) -> dict[str, uuid.UUID]: ...

    async def record(self, events: Sequence[UserIdentified]) -> None: ...


# Built once: a hot path pays for parameters, not for building and caching expressions.
_RECENT = select(history.c.customer_phone, history.c.user_id).where(
    history.c.customer_phone.in_(bindparam("phones", expanding=True)),
    history.c.last_seen_at >= bindparam("since"),
)
_upsert = insert(history)
_REMEMBER = _upsert.on_conflict_do_update(
    index_elements=[history.c.customer_phone],
    set_={"user_id": _upsert.excluded.user_id, "last_seen_at": _upsert.excluded.last_seen_at},
    where=history.c.last_seen_at <= _upsert.excluded.last_seen_at,
)


class CustomerHistory:
    def __init__(self, db: Statements) -> None:
        self._db = db

    async def recent_users(
        self, customer_phones: Collection[str], since: datetime
    ) -> dict[str, uuid.UUID]:
        if not customer_phones:
            return {}
        rows = await self._db.execute(_RECENT, {"phones": list(customer_phones), "since": since})
        return {row.customer_phone: row.user_id for row in rows}

    async def record(self, events: Sequence[UserIdentified]) -> None:
        """A message that found its tenant makes it the customer's latest, as of the event's
        time (never the clock's: a rebuild must write the same row). Applying events in any
        order leaves the newest, so partitions may be replayed side by side."""
        latest: dict[str, UserIdentified] = {}
        for event in events:
            if event.user_id is None:
                continue
            seen = latest.get(event.customer_phone)
            if seen is None or seen.occurred_at <= event.occurred_at:
                latest[event.customer_phone] = event
        if not latest:
            return
        # One statement for the batch (a list of parameter sets, one round trip).
        await self._db.execute(
            _REMEMBER,
            [
                {
                    "customer_phone": phone,
                    "user_id": event.user_id,
                    "last_seen_at": event.occurred_at,
                }
                for phone, event in sorted(latest.items())  # sorted: no deadlock between batches
            ],
        )
