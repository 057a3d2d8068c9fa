"""Conversation-history lookup: the tenant a customer number talked to most recently.

A read model of UserIdentified: `record` is its one rule, run by the live handler after it
published the event and by the replay (entrypoints/replay.py) for each event in the log.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.identity.adapters.tables import identity_customer_history as history
from shared.contracts.messages import UserIdentified
from shared.db import Statements


class CustomerHistory:
    def __init__(self, db: Statements, window: timedelta) -> None:
        self._db = db
        self._window = window

    async def recent_user(self, customer_phone: str, now: datetime) -> uuid.UUID | None:
        user_id: uuid.UUID | None = (
            await self._db.execute(
                select(history.c.user_id).where(
                    history.c.customer_phone == customer_phone,
                    history.c.last_seen_at >= now - self._window,
                )
            )
        ).scalar_one_or_none()
        return user_id

    async def record(self, event: UserIdentified) -> None:
        """A message that found its tenant makes it the customer's latest, as of the event's
        time (never the clock's: a rebuild must write the same row). Applying events in any
        order leaves the newest, so partitions may be replayed side by side."""
        if event.user_id is not None:
            await self.remember(event.customer_phone, event.user_id, event.occurred_at)

    async def remember(self, customer_phone: str, user_id: uuid.UUID, seen_at: datetime) -> None:
        statement = insert(history).values(
            customer_phone=customer_phone, user_id=user_id, last_seen_at=seen_at
        )
        statement = statement.on_conflict_do_update(
            index_elements=[history.c.customer_phone],
            set_={
                "user_id": statement.excluded.user_id,
                "last_seen_at": statement.excluded.last_seen_at,
            },
            where=history.c.last_seen_at <= statement.excluded.last_seen_at,
        )
        await self._db.execute(statement)
