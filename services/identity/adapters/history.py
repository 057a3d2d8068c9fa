"""Conversation-history lookup: the tenant a customer number talked to most recently."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert

from services.identity.adapters.tables import identity_customer_history as history
from shared.db import Statements


class HistoryStore(Protocol):
    async def recent_users(
        self, customer_phones: Collection[str], since: datetime
    ) -> dict[str, uuid.UUID]: ...

    async def remember(self, users: Mapping[str, uuid.UUID], seen_at: datetime) -> None: ...


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

    async def remember(self, users: Mapping[str, uuid.UUID], seen_at: datetime) -> None:
        if not users:
            return
        # One multi-row statement for the batch (a list of parameter sets).
        await self._db.execute(
            _REMEMBER,
            [
                {"customer_phone": phone, "user_id": user_id, "last_seen_at": seen_at}
                for phone, user_id in sorted(users.items())  # sorted: no deadlock between batches
            ],
        )
