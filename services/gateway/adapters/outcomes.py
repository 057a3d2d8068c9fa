"""Every gateway replica hears every outcome, so the replica holding the caller's request
answers it: a group-less consumer over all partitions of the outcomes topic, from its end.

Only /api-chatbot callers wait, so while nobody waits the listener fetches nothing (each
replica would otherwise read every outcome of every channel). The first caller after a
pause has it read again, before the caller's message is published, so its outcome cannot
come earlier: after a short pause from where it stopped (a few records to skip), after a
long one from the topic's end as of that moment (the backlog is skipped unread, and no
fetch is still in flight to hold up the seek).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import TypeAdapter, ValidationError

from shared.consumer import FETCH_MAX_WAIT_MS
from shared.contracts.conversations import OutcomeTopicEvent, TurnStarted
from shared.contracts.messages import MessageOutcome
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.logging import get_logger
from shared.messaging import partitions_of

log = get_logger(__name__)
# TurnStarted shares the topic; it answers no caller and is skipped.
_events: TypeAdapter[MessageOutcome | TurnStarted] = TypeAdapter(OutcomeTopicEvent)
# With the broker away, finding the topic's end would wait for it: the caller gets a 500
# (retry) instead of hanging.
RESUME_TIMEOUT_S = 5.0
# A pause shorter than this resumes where it stopped; a longer one seeks to the end.
SEEK_AFTER_PAUSE_S = 30.0


class OutcomeWaiters:
    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[int, asyncio.Future[MessageOutcome]]]] = defaultdict(
            list
        )
        self._listening: Callable[[], Awaitable[None]] | None = None

    def heard_by(self, listening: Callable[[], Awaitable[None]]) -> None:
        """The listener's hook that makes it read the topic from now on (see `listening`)."""
        self._listening = listening

    async def listening(self) -> None:
        """Returns once outcomes published from now on reach `resolve`: awaited after
        `register` and before the caller's message is published."""
        if self._listening is not None:
            await self._listening()

    def register(self, message_id: str, min_attempt: int = 1) -> asyncio.Future[MessageOutcome]:
        future: asyncio.Future[MessageOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[message_id].append((min_attempt, future))
        return future

    def raise_attempt(
        self, message_id: str, future: asyncio.Future[MessageOutcome], attempt: int
    ) -> None:
        entries = self._waiting.get(message_id, [])
        self._waiting[message_id] = [(attempt if f is future else a, f) for a, f in entries]

    def forget(self, message_id: str, future: asyncio.Future[MessageOutcome]) -> None:
        entries = [entry for entry in self._waiting.get(message_id, []) if entry[1] is not future]
        if entries:
            self._waiting[message_id] = entries
        else:
            self._waiting.pop(message_id, None)

    def resolve(self, outcome: MessageOutcome) -> None:
        entries = self._waiting.get(outcome.message_id)
        if not entries:
            return
        remaining = []
        for min_attempt, future in entries:
            if outcome.attempt >= min_attempt and not future.done():
                future.set_result(outcome)
            elif not future.done():
                remaining.append((min_attempt, future))
        if remaining:
            self._waiting[outcome.message_id] = remaining
        else:
            del self._waiting[outcome.message_id]

    def __len__(self) -> int:
        return len(self._waiting)


class OutcomeListener:
    def __init__(self, bootstrap_servers: str, waiters: OutcomeWaiters) -> None:
        self._waiters = waiters
        self._bootstrap_servers = bootstrap_servers
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        self._task: asyncio.Task[None] | None = None
        self._assigned: list[TopicPartition] = []
        self.paused = False
        self._paused_at = 0.0
        self._resumed = asyncio.Event()
        self._resuming = asyncio.Lock()

    async def start(self) -> None:
        partitions = await partitions_of(self._bootstrap_servers, MESSAGE_OUTCOMES.name)
        if not partitions:
            raise RuntimeError(f"topic {MESSAGE_OUTCOMES.name} is missing: run shared.bootstrap")
        await self._consumer.start()
        assigned = [TopicPartition(MESSAGE_OUTCOMES.name, p) for p in partitions]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve the lazy seek now, before any request is accepted
            await self._consumer.position(tp)
        self._assigned = assigned
        self._waiters.heard_by(self._resume)
        self._task = asyncio.create_task(self._listen(), name="outcome-listener")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _resume(self) -> None:
        async with self._resuming:
            if not self.paused:
                return
            if time.monotonic() - self._paused_at >= SEEK_AFTER_PAUSE_S:
                async with asyncio.timeout(RESUME_TIMEOUT_S):
                    await self._consumer.seek_to_end(*self._assigned)
                    for tp in self._assigned:  # resolved before the caller's message is out
                        await self._consumer.position(tp)
            self._consumer.resume(*self._assigned)
            self.paused = False
            self._resumed.set()

    def _pause(self) -> None:
        self._consumer.pause(*self._assigned)
        self.paused = True
        self._paused_at = time.monotonic()
        self._resumed.clear()

    async def _listen(self) -> None:
        while True:
            if not self._waiters and not self.paused:
                self._pause()
            if self.paused:
                await self._resumed.wait()
                continue
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if not self._waiters:  # the last caller left: nothing to parse
                        break
                    try:
                        event = _events.validate_json(record.value)
                    except ValidationError:
                        log.error("unreadable outcome skipped", offset=record.offset)
                        continue
                    if not isinstance(event, TurnStarted):
                        self._waiters.resolve(event)
