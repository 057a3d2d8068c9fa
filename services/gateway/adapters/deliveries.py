"""Intent and outcome of each outbound reply, by message id (exactly one send per message).

A worker claims a message with a short lease, records every part it sent as soon as the
provider accepted it, and marks the message sent or failed. A redelivered outcome finds
the row and sends nothing again. The one window left: the provider accepted a part and
the process died before `part_sent` committed; that part is sent again after restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Executable, Result, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from services.gateway.adapters.tables import outbound_deliveries as deliveries
from shared.db import Statements

FINAL = ("sent", "failed")


class DeliveryBusy(Exception):
    """Another worker holds a live lease on this message (a rebalance overlap): retry later."""


@dataclass(frozen=True)
class Claim:
    parts_sent: int
    provider_message_ids: list[str]
    attempts: int


class DeliveryStore:
    def __init__(self, db: Statements, lease: timedelta) -> None:
        self._db = db
        self._lease = lease

    async def claim(self, message_id: str, channel: str, parts_total: int) -> Claim | None:
        """The part to resume from, or None when the message was already sent or failed.

        One statement: insert the intent with a lease, or take the lease of an unfinished
        row whose lease ran out (a crashed worker's).
        """
        lease_until = self._lease_until()
        claimed = (
            await self._execute(
                insert(deliveries)
                .values(
                    message_id=message_id,
                    channel=channel,
                    status="sending",
                    parts_total=parts_total,
                    attempts=1,
                    lease_until=lease_until,
                )
                .on_conflict_do_update(
                    index_elements=[deliveries.c.message_id],
                    set_={
                        "attempts": deliveries.c.attempts + 1,
                        "lease_until": lease_until,
                        "updated_at": func.now(),
                    },
                    where=deliveries.c.status.not_in(FINAL)
                    & or_(
                        deliveries.c.lease_until.is_(None), deliveries.c.lease_until <= func.now()
                    ),
                )
                .returning(
                    deliveries.c.parts_sent,
                    deliveries.c.provider_message_ids,
                    deliveries.c.attempts,
                )
            )
        ).first()
        if claimed is not None:
            return Claim(claimed.parts_sent, list(claimed.provider_message_ids), claimed.attempts)
        status = (
            await self._execute(
                select(deliveries.c.status).where(deliveries.c.message_id == message_id)
            )
        ).scalar_one()
        if status in FINAL:
            return None
        raise DeliveryBusy(message_id)

    async def part_sent(self, message_id: str, parts_sent: int, provider_ids: list[str]) -> None:
        await self._update(
            message_id,
            parts_sent=parts_sent,
            provider_message_ids=provider_ids,
            lease_until=self._lease_until(),
        )

    async def sent(self, message_id: str, parts_sent: int, provider_ids: list[str]) -> None:
        """The last part was accepted: record it and finish in one statement."""
        await self._update(
            message_id,
            status="sent",
            parts_sent=parts_sent,
            provider_message_ids=provider_ids,
            lease_until=None,
        )

    async def finish(self, message_id: str, status: str, error: str | None = None) -> None:
        await self._update(message_id, status=status, last_error=error, lease_until=None)

    async def release(self, message_id: str, error: str) -> None:
        """Give the lease back after a transient failure, so a retry may start at once."""
        await self._update(message_id, last_error=error, lease_until=None)

    def _lease_until(self) -> Any:
        return func.now() + text(f"interval '{int(self._lease.total_seconds())} seconds'")

    async def _update(self, message_id: str, **values: Any) -> None:
        await self._execute(
            update(deliveries)
            .where(deliveries.c.message_id == message_id)
            .values(**values, updated_at=func.now())
        )

    async def _execute(self, statement: Executable) -> Result[Any]:
        return await self._db.execute(statement)
