"""Follows the compacted `conversations.owner.v1` from its start into a local owner view.

Who answers a conversation (bot / human / paused) is decided by events that the config API,
the gateway and the responder write; every replica of the responder and the gateway keeps
the whole (small, compacted) topic in a view and re-checks it right before answering and
right before sending, so no database read is needed per message. The topic, not a
process's memory, is the state: a restarted replica rebuilds its view before it is ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import TopicPartition
from pydantic import ValidationError

from shared.contracts.conversations import ConversationOwnerChanged
from shared.contracts.topics import CONVERSATION_OWNERS
from shared.logging import get_logger
from shared.messaging import partitions_of
from shared.topic_follower import TopicFollower

log = get_logger(__name__)


class OwnerFeed(TopicFollower):
    def __init__(
        self, bootstrap_servers: str, apply: Callable[[ConversationOwnerChanged], None]
    ) -> None:
        self._apply = apply
        self._bootstrap_servers = bootstrap_servers
        super().__init__(bootstrap_servers)
        self.applied = 0  # changes applied since start; exposed on /readyz

    async def start(self, timeout_s: float = 60.0) -> None:
        await self._consumer.start()
        numbers = await partitions_of(self._bootstrap_servers, CONVERSATION_OWNERS.name)
        if not numbers:
            raise RuntimeError(f"topic {CONVERSATION_OWNERS.name} does not exist (run bootstrap)")
        partitions = [TopicPartition(CONVERSATION_OWNERS.name, p) for p in sorted(numbers)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        ends = await self._consumer.end_offsets(partitions)
        self._task = asyncio.create_task(self._follow(ends), name="owner-feed")
        await asyncio.wait_for(self._caught_up.wait(), timeout_s)

    async def _follow(self, ends_at_start: dict[TopicPartition, int]) -> None:
        pending = {tp: end for tp, end in ends_at_start.items() if end > 0}
        if not pending:
            self._caught_up.set()
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    self._apply_record(record.value, record.offset)
            if not self._caught_up.is_set():
                for tp in list(pending):
                    if await self._consumer.position(tp) >= pending[tp]:
                        del pending[tp]
                if not pending:
                    self._caught_up.set()

    def _apply_record(self, value: bytes | None, offset: int) -> None:
        if value is None:
            return
        try:
            event = ConversationOwnerChanged.model_validate_json(value)
        except ValidationError as exc:
            log.error("unreadable owner change skipped", offset=offset, errors=exc.error_count())
            return
        self._apply(event)
        self.applied += 1
