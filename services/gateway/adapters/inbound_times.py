"""When the gateway accepted each inbound message: the 24-hour window's fallback when a
reply does not say when the customer last wrote."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, select

from services.gateway.adapters.store import unavailable_on_db_errors
from services.gateway.adapters.tables import inbound_messages as inbound
from shared.db import Statements


class AcceptedTimes(Protocol):
    """Raises `StoreUnavailable` when the database does not answer."""

    async def accepted_at(self, message_ids: Collection[str]) -> dict[str, datetime]: ...


_SELECT = select(inbound.c.message_id, inbound.c.created_at).where(
    inbound.c.message_id.in_(bindparam("ids", expanding=True))
)


class InboundTimes:
    def __init__(self, db: Statements) -> None:
        self._db = db

    async def accepted_at(self, message_ids: Collection[str]) -> dict[str, datetime]:
        if not message_ids:
            return {}
        with unavailable_on_db_errors():
            rows = await self._db.execute(_SELECT, {"ids": sorted(message_ids)})
            return {row.message_id: row.created_at for row in rows}
