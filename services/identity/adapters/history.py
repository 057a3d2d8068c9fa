"""Conversation-history lookup: the tenant a customer number talked to most recently."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.identity.adapters.tables import identity_customer_history as history
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
