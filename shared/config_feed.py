"""Follows the compacted config topic from its start and feeds each event to a local view.

This is how identity, responder and gateway read configuration without a database read
per message: the view is rebuilt from the topic at start-up (the service is not ready
until it has caught up with the end offsets it saw at start) and then kept current,
typically a few milliseconds after the config service publishes a change. A change
older than the one the view holds for its entity (it lost a publish race) is skipped
(shared.views.versions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import TopicPartition
from pydantic import TypeAdapter, ValidationError

from shared.contracts.config_events import ConfigEvent
from shared.contracts.topics import CONFIG_CHANGES
from shared.logging import get_logger
from shared.topic_follower import TopicFollower
from shared.views.versions import InOrder

log = get_logger(__name__)
_event_adapter: TypeAdapter[ConfigEvent] = TypeAdapter(ConfigEvent)


class ConfigFeed(TopicFollower):
    def __init__(self, bootstrap_servers: str, apply: Callable[[ConfigEvent], None]) -> None:
        self._apply = InOrder(apply)
        super().__init__(bootstrap_servers)
        self.version = -1  # offset of the last applied change; exposed on /readyz

    async def start(self, timeout_s: float = 60.0) -> None:
        await self._consumer.start()
        partition = TopicPartition(CONFIG_CHANGES.name, 0)
        self._consumer.assign([partition])
        await self._consumer.seek_to_beginning(partition)
        end = (await self._consumer.end_offsets([partition]))[partition]
        if end == 0:
            self._caught_up.set()
        self._task = asyncio.create_task(self._follow(partition, end), name="config-feed")
        await asyncio.wait_for(self._caught_up.wait(), timeout_s)

    async def _follow(self, partition: TopicPartition, end_at_start: int) -> None:
        while True:
            batches = await self._consumer.getmany(partition, timeout_ms=200)
            for record in batches.get(partition, []):
                self._apply_record(record.value, record.offset)
            if not self._caught_up.is_set() and await self._consumer.position(partition) >= (
                end_at_start
            ):
                self._caught_up.set()

    def _apply_record(self, value: bytes | None, offset: int) -> None:
        self.version = offset
        if value is None:
            return
        try:
            event = _event_adapter.validate_json(value)
        except ValidationError as exc:
            log.error("unreadable config event skipped", offset=offset, errors=exc.error_count())
            return
        if not self._apply(event):
            log.debug(
                "config change older than the view's skipped",
                offset=offset,
                event_type=event.event_type,
                version=event.version,
                held=self._apply.versions.held(event),
            )
