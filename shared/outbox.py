"""Transactional outbox: an event is written in the same transaction as the state it
describes, published right after commit, and re-published by a relay if the process died
in between. Consumers dedupe by event/message id, so a second publish is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.logging import get_logger

log = get_logger(__name__)


def outbox_table(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(512), nullable=False),
        Column("payload", Text, nullable=False),
        Column("trace_carrier", JSONB, nullable=False, server_default="{}"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), index=True),
        comment="transactional outbox",
    )


class Outbox:
    def __init__(
        self,
        table: Table,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        relay_after: timedelta = timedelta(seconds=3),
    ) -> None:
        self._table = table
        self._sessions = sessions
        self._broker = broker
        self._relay_after = relay_after
        self._relay_task: asyncio.Task[None] | None = None

    async def add(self, session: AsyncSession, topic: str, key: str, event: BaseModel) -> int:
        """Stage an event inside the caller's transaction; returns its outbox id."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        row_id: int = (
            await session.execute(
                self._table.insert()
                .values(
                    topic=topic, key=key, payload=event.model_dump_json(), trace_carrier=carrier
                )
                .returning(self._table.c.id)
            )
        ).scalar_one()
        return row_id

    async def publish(self, ids: list[int]) -> int | None:
        """Publish staged events after their transaction committed (the fast path).

        Returns the highest Kafka offset written, or None when nothing was left to send.
        """
        if not ids:
            return None
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(self._table)
                    .where(self._table.c.id.in_(ids), self._table.c.published_at.is_(None))
                    .order_by(self._table.c.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            return await self._send_and_mark(session, rows)

    async def relay_once(self, limit: int = 200) -> int:
        """Publish events whose fast path never happened (a crash, a broker outage)."""
        cutoff = datetime.now(UTC) - self._relay_after
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(self._table)
                    .where(self._table.c.published_at.is_(None), self._table.c.created_at < cutoff)
                    .order_by(self._table.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            await self._send_and_mark(session, rows)
        if rows:
            log.warning("outbox relay published stranded events", count=len(rows))
        return len(rows)

    async def _send_and_mark(self, session: AsyncSession, rows: Sequence[Any]) -> int | None:
        published: list[int] = []
        last_offset: int | None = None
        for row in rows:
            token = otel_context.attach(propagate.extract(row.trace_carrier))
            try:
                metadata = await self._broker.publish(
                    row.payload.encode(),
                    topic=row.topic,
                    key=row.key.encode(),
                    headers={"content-type": "application/json"},
                )
            finally:
                otel_context.detach(token)
            published.append(row.id)
            last_offset = metadata.offset
        if published:
            await session.execute(
                update(self._table)
                .where(self._table.c.id.in_(published))
                .values(published_at=func.now())
            )
        return last_offset

    def start_relay(self, every_s: float = 1.0) -> None:
        self._relay_task = asyncio.create_task(self._relay_loop(every_s), name="outbox-relay")

    async def stop_relay(self) -> None:
        if self._relay_task:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task

    async def _relay_loop(self, every_s: float) -> None:
        while True:
            try:
                await self.relay_once()
            except Exception as exc:
                log.warning("outbox relay failed; will retry", error=type(exc).__name__)
            await asyncio.sleep(every_s)
