"""Writes the message-event projection (as config_worker). Idempotent by event id."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.config.adapters.tables import message_events
from services.config.domain.projection import ProjectedEvent, UnreadableEvent, project
from shared.batching import GroupCommitter
from shared.logging import get_logger

log = get_logger(__name__)


class MessageEventStore:
    """Rows from concurrent handlers are inserted together (group commit): four events per
    message would otherwise be four transactions per message."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._batches: GroupCommitter[ProjectedEvent, None] = GroupCommitter(self._insert)

    async def record(self, event: ProjectedEvent) -> None:
        await self._batches.submit(event)

    async def _insert(self, events: Sequence[ProjectedEvent]) -> list[None]:
        statement = (
            insert(message_events)
            .values(
                [
                    {
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
                    for event in events
                ]
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        async with self._sessions() as session, session.begin():
            await session.execute(statement)
        return [None] * len(events)


class ProjectionHandler:
    """A KeyedConcurrentConsumer handler: one record in, one projection row out."""

    def __init__(self, store: MessageEventStore) -> None:
        self._store = store

    async def __call__(self, record: ConsumerRecord) -> None:
        try:
            event = project(record.topic, record.value, record.headers)
        except UnreadableEvent as exc:
            # Retrying cannot make it readable; skip it (the owning service dead-letters
            # its own poison records) and say where it was.
            log.warning(
                "unreadable message event not projected",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
            return
        await self._store.record(event)
