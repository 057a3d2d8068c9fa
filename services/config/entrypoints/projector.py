"""Follows the message topics into the config service's own projection (message_events).

One keyed consumer per topic, each in its own group (`config-projection.<topic>`), so a
slow topic or a rebalance on one never stalls the others. Offsets are committed only for
finished records and rows are keyed by event id: a restart re-projects nothing twice.
"""

from __future__ import annotations

import asyncio

from aiokafka import ConsumerRecord

from services.config.adapters.projection_store import MessageEventStore, ProjectionHandler
from services.config.domain.projection import PROJECTED_TOPICS
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, per_record, raw_record
from shared.logging import get_logger

GROUP_PREFIX = "config-projection"
log = get_logger(__name__)


class Projector:
    def __init__(
        self, bootstrap_servers: str, store: MessageEventStore, max_in_flight: int = 16
    ) -> None:
        handler = ProjectionHandler(store)
        self._consumers = [
            KeyedBatchConsumer(
                bootstrap_servers=bootstrap_servers,
                topics=[topic],
                group_id=f"{GROUP_PREFIX}.{topic}",
                parse=raw_record,
                handler=per_record(lambda item: handler(item.record)),
                # A projection must not lose events: while the database is away, retry
                # (backing off to 30 s) instead of parking records on the dead-letter
                # topic. Unreadable records never fail: the handler skips them.
                options=ConsumerOptions(
                    max_in_flight=max_in_flight,
                    max_attempts=1_000_000,
                    max_backoff_s=30.0,
                    max_batch=1,
                ),
            )
            for topic in PROJECTED_TOPICS
        ]

        self._started: list[KeyedBatchConsumer[ConsumerRecord]] = []

    async def start(self) -> None:
        for consumer in self._consumers:
            await consumer.start()
            self._started.append(consumer)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop all four together, bounded: with the broker gone, committing and leaving
        the group can wait forever. Uncommitted records are projected again after a
        restart, which changes nothing (rows are keyed by event id)."""
        started, self._started = self._started, []
        stopping = asyncio.gather(*(consumer.stop() for consumer in started))
        try:
            await asyncio.wait_for(stopping, timeout_s)
        except TimeoutError:
            log.warning("projection consumers did not stop in time", timeout_s=timeout_s)

    @property
    def alive(self) -> bool:
        return all(consumer.alive for consumer in self._consumers)
