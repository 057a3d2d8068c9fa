"""Transactional outbox: an event is written in the same transaction as the state it
describes, published right after commit, and re-published by a relay if the process died
in between. Consumers dedupe by event/message id, so a second publish is harmless.

The fast path publishes from memory (the caller still holds what it staged) and marks the
rows published in batches in the background: one UPDATE per batch instead of a second
transaction per event that would hold a connection and row locks across Kafka's ack.
A row published but not yet marked when the process dies is published again by the relay
(a duplicate, deduped downstream); the relay only takes rows older than `relay_after`,
far longer than a marking batch takes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.logging import get_logger
from shared.outbox_rows import OutboxEntry, StagedEvent, outbox_table, trace_carrier

__all__ = [
    "Outbox",
    "OutboxEntry",
    "OutboxUnit",
    "StagedEvent",
    "outbox_table",
    "trace_carrier",
]

log = get_logger(__name__)
# How long a write path waits for its events to reach Kafka before answering. Waiting keeps
# a customer's next message from overtaking this one; past it the relay takes over.
PUBLISH_WAIT_S = 2.0


AfterPublish = Callable[["Outbox", Sequence[StagedEvent]], Awaitable[None]]


class OutboxUnit:
    """What a write path stages inside its transaction; published when the unit exits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.entries: list[OutboxEntry] = []
        self.published: list[StagedEvent] = []
        # The Kafka offset the last staged event got on the fast path (None: not yet, the
        # relay publishes it), e.g. for an answer that names its change's offset.
        self.offset: int | None = None

    def stage(
        self, topic: str, key: str, event: BaseModel, carrier: dict[str, str] | None = None
    ) -> None:
        """Stage an event under the current trace context (or a request's own `carrier`,
        when one transaction serves several requests)."""
        self.entries.append(
            OutboxEntry(topic, key, event, trace_carrier() if carrier is None else carrier)
        )


class Outbox:
    def __init__(
        self,
        table: Table,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        relay_after: timedelta = timedelta(seconds=3),
        mark_every_s: float = 0.1,
        after_publish: AfterPublish | None = None,
    ) -> None:
        """`after_publish` runs after every publish (fast path and relay) with what was
        published; it must not raise."""
        self._table = table
        # RETURNING in the rows' order: the staged events are published in that order.
        self._insert = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        self._after_publish = after_publish
        self._sessions = sessions
        self._broker = broker
        self._relay_after = relay_after
        self._mark_every_s = mark_every_s
        self._relay_task: asyncio.Task[None] | None = None
        self._marker_task: asyncio.Task[None] | None = None
        self._to_mark: list[int] = []
        self._marks_waiting = asyncio.Event()

    @contextlib.asynccontextmanager
    async def unit(
        self,
        publish_wait_s: float = PUBLISH_WAIT_S,
        on_begin: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> AsyncIterator[OutboxUnit]:
        """One transaction and the events it stages: the rows and the events commit
        together; on a clean exit the events are published before the block returns
        (bounded by `publish_wait_s`; past that, or with the broker away, the relay
        publishes them). An exception rolls back both and publishes nothing.
        `on_begin` runs first in the transaction (e.g. to choose its database role).

            async with outbox.unit() as unit:
                await unit.session.execute(...)
                unit.stage(MESSAGES_RECEIVED.name, key, event)
        """
        async with self._sessions() as session:
            async with session.begin():
                if on_begin is not None:
                    await on_begin(session)
                unit = OutboxUnit(session)
                yield unit
                staged = await self.add_many(session, unit.entries)
            unit.published = staged
        unit.offset = await self.deliver(staged, publish_wait_s)

    async def deliver(
        self, staged: Sequence[StagedEvent], publish_wait_s: float = PUBLISH_WAIT_S
    ) -> int | None:
        """The fast path for events whose rows committed (in a unit, or in a statement of
        the caller's own): published in order, bounded by `publish_wait_s`; past that, or
        with the broker away, left to the relay. The highest Kafka offset written, or None."""
        if not staged:
            return None
        try:
            offset = await asyncio.wait_for(self._send(staged), publish_wait_s)
        except Exception as exc:  # committed: the relay publishes what did not go out
            log.warning(
                "publish after commit failed; the outbox relay will publish",
                error=type(exc).__name__,
                events=len(staged),
            )
            return None
        try:
            await self._published(staged)
        except Exception as exc:  # published: rows left unmarked go out again (deduped)
            log.warning("outbox could not mark events published", error=type(exc).__name__)
        return offset

    async def add_many(
        self, session: AsyncSession, events: Sequence[OutboxEntry]
    ) -> list[StagedEvent]:
        """Stage many events with one statement (group commit); returned in the given order.
        Each carries the trace context of the request it came from (`trace_carrier()`)."""
        if not events:
            return []
        payloads = [entry.event.model_dump_json() for entry in events]
        rows = [
            {
                "topic": entry.topic,
                "key": entry.key,
                "payload": payload,
                "trace_carrier": entry.carrier,
            }
            for entry, payload in zip(events, payloads, strict=True)
        ]
        # One prebuilt statement for any number of rows (SQLAlchemy's "insertmanyvalues"):
        # no expression built and no cache key computed over every value per call.
        ids = (await session.execute(self._insert, rows)).scalars().all()
        return [
            StagedEvent(row_id, entry.topic, entry.key, payload, entry.carrier)
            for row_id, entry, payload in zip(ids, events, payloads, strict=True)
        ]

    async def publish(self, staged: Sequence[StagedEvent]) -> int | None:
        """Publish staged events after their transaction committed (the fast path), in the
        order they were staged. Returns the highest Kafka offset written (None for none).

        Callers await this before answering, so an event is in Kafka before anything
        caused by the answer (the customer's next message) can be.
        """
        if not staged:
            return None
        last_offset = await self._send(staged)
        await self._published(staged)
        return last_offset

    async def _published(self, staged: Sequence[StagedEvent]) -> None:
        """After a fast-path publish: the rows to mark, and the `after_publish` hook."""
        ids = [event.id for event in staged]
        if self._marker_task is None:  # no background marker (a one-shot tool): mark now
            await self._mark(ids)
        else:
            self._to_mark.extend(ids)
            self._marks_waiting.set()
        if self._after_publish is not None:
            await self._after_publish(self, staged)

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
            staged = [
                StagedEvent(row.id, row.topic, row.key, row.payload, row.trace_carrier)
                for row in rows
            ]
            await self._send(staged)
            if staged:
                await session.execute(self._mark_statement([event.id for event in staged]))
        if rows:
            log.warning("outbox relay published stranded events", count=len(rows))
            if self._after_publish is not None:
                await self._after_publish(self, staged)
        return len(rows)

    async def _send(self, staged: Sequence[StagedEvent]) -> int | None:
        """Hand every event to the producer, then await all acks: one produce round for
        the batch, in staged order (the producer keeps order per partition)."""
        futures = []
        for event in staged:
            token = otel_context.attach(propagate.extract(event.trace_carrier))
            try:
                futures.append(
                    await self._broker.publish(
                        event.payload.encode(),
                        topic=event.topic,
                        key=event.key.encode(),
                        headers={"content-type": "application/json"},
                        no_confirm=True,
                    )
                )
            finally:
                otel_context.detach(token)
        offsets = [metadata.offset for metadata in await asyncio.gather(*futures)]
        return offsets[-1] if offsets else None

    def _mark_statement(self, ids: list[int]) -> Any:
        return (
            update(self._table)
            .where(self._table.c.id.in_(ids), self._table.c.published_at.is_(None))
            .values(published_at=func.now())
        )

    async def _mark(self, ids: list[int]) -> None:
        async with self._sessions() as session:
            # One statement, atomic alone: no BEGIN and COMMIT round trips around it.
            connection = await session.connection(
                execution_options={"isolation_level": "AUTOCOMMIT"}
            )
            await connection.execute(self._mark_statement(ids))

    async def _mark_loop(self) -> None:
        while True:
            await self._marks_waiting.wait()
            await asyncio.sleep(self._mark_every_s)  # gather a batch
            await self._flush_marks()

    async def _flush_marks(self) -> None:
        self._marks_waiting.clear()
        ids, self._to_mark = self._to_mark, []
        if not ids:
            return
        try:
            await self._mark(ids)
        except Exception as exc:  # unmarked rows are re-published by the relay: harmless
            log.warning("outbox could not mark events published", error=type(exc).__name__)

    def start_relay(self, every_s: float = 1.0) -> None:
        self._relay_task = asyncio.create_task(self._relay_loop(every_s), name="outbox-relay")
        self._marker_task = asyncio.create_task(self._mark_loop(), name="outbox-marker")

    async def stop_relay(self) -> None:
        for task in (self._relay_task, self._marker_task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._marker_task = None
        await self._flush_marks()

    async def _relay_loop(self, every_s: float) -> None:
        while True:
            try:
                await self.relay_once()
            except Exception as exc:
                log.warning("outbox relay failed; will retry", error=type(exc).__name__)
            await asyncio.sleep(every_s)
