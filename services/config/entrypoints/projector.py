"""Follows the message topics and conversations.owner.v1 into the config service's own
projection (message_events, and the conversations read models): one keyed consumer, group
`config-projection`, a batch at a time.

Per batch: one transaction; rows are keyed by event id, so a redelivery changes nothing
(the conversations read models take only the events that transaction recorded first). A record that is not an event is parked on `<topic>.dlq` at
once (the parse function refuses it). While the database is away a batch is deferred with
backoff (up to 30 s between tries) and never dead-lettered: the projection loses no event.
Rows the database refuses (a value it cannot store) are found one record at a time and
parked; their neighbours are written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from sqlalchemy.exc import DataError, IntegrityError

from services.config.adapters.projection_store import ProjectionStore
from services.config.domain.projection import PROJECTED_TOPICS, ProjectedEvent, project
from shared.consumer import BatchResult, ConsumerOptions, KeyedBatchConsumer, Received
from shared.logging import get_logger

# One group for all its topics. Before it there was one group per topic,
# `config-projection.<topic>`: see README, "Upgrading: the projection's consumer group".
GROUP_ID = "config-projection"
MAX_BACKOFF_S = 30.0
GATHER_BYTES = 64 * 1024
GATHER_MS = 250
log = get_logger(__name__)


def parse_message_event(record: ConsumerRecord) -> ProjectedEvent:
    """Raises UnreadableEvent for a record that is not an event: the consumer parks it."""
    return project(record.topic, record.value, record.headers)


def refused(error: BaseException) -> bool:
    """The database refused the rows themselves: the same rows would fail again."""
    return isinstance(error, DataError | IntegrityError)


@dataclass
class ProjectMessageEvents:
    store: ProjectionStore

    async def __call__(self, batch: Sequence[Received[ProjectedEvent]]) -> BatchResult | None:
        try:
            await self.store.record_many([item.event for item in batch])
        except Exception as exc:
            if refused(exc) and len(batch) > 1:
                raise  # one of them is refused: the consumer hands each alone to find it
            return self._not_written(batch, exc)
        log.debug("message events projected", events=len(batch))
        return None

    @staticmethod
    def _not_written(batch: Sequence[Received[ProjectedEvent]], error: Exception) -> BatchResult:
        result = BatchResult()
        if refused(error):
            (item,) = batch
            detail = str(error).splitlines()[0] if str(error) else ""  # no SQL, no parameters
            result.park(item, f"refused by the database: {type(error).__name__}: {detail}"[:300])
            return result
        log.warning(
            "message events not projected; will retry",
            error=type(error).__name__,
            events=len(batch),
        )
        for item in batch:  # backoff by delivery count, capped by MAX_BACKOFF_S; never parked
            result.retry_later(item, f"database unavailable: {type(error).__name__}")
        return result


def projection_consumer(
    bootstrap_servers: str, store: ProjectionStore, max_in_flight: int, group_id: str = GROUP_ID
) -> KeyedBatchConsumer[ProjectedEvent]:
    return KeyedBatchConsumer(
        bootstrap_servers=bootstrap_servers,
        topics=PROJECTED_TOPICS,
        group_id=group_id,
        parse=parse_message_event,
        handler=ProjectMessageEvents(store),
        # Deferred batches never count as attempts; a handler failure that escapes anyway
        # is retried (almost) forever rather than parked, as before.
        options=ConsumerOptions(
            max_in_flight=max_in_flight,
            max_attempts=1_000_000,
            max_backoff_s=MAX_BACKOFF_S,
            # A read model for monitoring: up to GATHER_MS later, in a few large transactions
            # rather than one per message hop (the projection reads four topics).
            fetch_min_bytes=GATHER_BYTES,
            fetch_max_wait_ms=GATHER_MS,
            # The rows end the same whatever order a conversation's events come in (the
            # topics interleave anyway): a fetch is one transaction, not one per hop.
            ordered_by_key=False,
        ),
    )


async def stop_within(consumer: KeyedBatchConsumer[ProjectedEvent], timeout_s: float) -> None:
    """Stop, bounded: with the broker gone, committing and leaving the group can wait
    forever. Uncommitted records are projected again after a restart (no change)."""
    try:
        await asyncio.wait_for(consumer.stop(), timeout_s)
    except TimeoutError:
        log.warning("projection consumer did not stop in time", timeout_s=timeout_s)
