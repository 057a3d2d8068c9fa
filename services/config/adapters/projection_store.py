"""Writes the message-event projection and, in the same transaction, the conversations read
model (as config_worker). Idempotent by event id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import ConsumerRecord
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.config.adapters.conversations_store import apply_activity, apply_owners
from services.config.adapters.tables import message_events
from services.config.domain.conversations import activities, owner_states
from services.config.domain.projection import ProjectedEvent, UnreadableEvent, project
from shared.batching import GroupCommitter
from shared.logging import get_logger

log = get_logger(__name__)
# Built once; a batch runs it with one parameter set per row, in one round trip.
# RETURNING names the events this statement recorded: only those reach the conversations
# read model, so a redelivered or replayed event is never counted twice.
_INSERT = (
    insert(message_events)
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(message_events.c.event_id)
)


class ProjectionStore(Protocol):
    async def record_many(self, events: Sequence[ProjectedEvent]) -> None: ...


def _row(event: ProjectedEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "service": event.service,
        "topic": event.topic,
        "message_id": event.message_id,
        "attempt": event.attempt,
        "user_id": event.user_id,
        "provider_message_id": event.provider_message_id,
        "occurred_at": event.occurred_at,
        "trace_id": event.trace_id,
        "summary": event.summary,
    }


class MessageEventStore:
    """`record_many` writes a batch in one transaction and one statement. `record` is for
    callers holding one event at a time: concurrent calls are written together (group
    commit), so four events per message are not four transactions per message."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._batches: GroupCommitter[ProjectedEvent, None] = GroupCommitter(self._insert)

    async def record(self, event: ProjectedEvent) -> None:
        await self._batches.submit(event)

    async def record_many(self, events: Sequence[ProjectedEvent]) -> None:
        if not events:
            return
        # Sorted: two batches holding the same redelivered events never wait on each other
        # in opposite orders.
        rows = [_row(event) for event in sorted(events, key=lambda e: e.event_id)]
        async with self._sessions() as session, session.begin():
            recorded = set((await session.execute(_INSERT, rows)).scalars().all())
            new = [event for event in events if event.event_id in recorded]
            await apply_activity(session, activities(new))
            await apply_owners(session, owner_states(new))

    async def _insert(self, events: Sequence[ProjectedEvent]) -> list[None]:
        await self.record_many(events)
        return [None] * len(events)


class ProjectionHandler:
    """One record in, one projection row out (for tools that hold single records; the
    service's consumer uses `entrypoints.projector.ProjectMessageEvents`, a batch at a time).
    An unreadable record is logged and skipped."""

    def __init__(self, store: MessageEventStore) -> None:
        self._store = store

    async def __call__(self, record: ConsumerRecord) -> None:
        try:
            event = project(record.topic, record.value, record.headers)
        except UnreadableEvent as exc:
            log.warning(
                "unreadable message event not projected",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
            return
        await self._store.record(event)
