"""What every in-memory feed of a topic shares: a group-less consumer read by one
background task, and how it stops and tells whether it still runs."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer

# How long the broker holds an empty fetch: a record is answered the moment it is written,
# so this only sets how often an idle feed asks again. A group-less feed never rebalances
# or seeks after its start, the cases where an in-flight fetch would hold it up.
IDLE_FETCH_WAIT_MS = 5000


class TopicFollower:
    def __init__(self, bootstrap_servers: str) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=IDLE_FETCH_WAIT_MS,
        )
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()
