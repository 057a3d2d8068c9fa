"""The turn poller: every replica claims due turns and runs each with a lease it renews
while the turn runs; a crashed replica's turns are claimed again once their lease ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from services.responder.adapters.turn_records import ClaimedTurn, TurnStore
from services.responder.entrypoints.turn_policy import TurnPolicy
from shared.logging import get_logger

log = get_logger(__name__)


class AnswersTurns(Protocol):
    """What a claimed turn becomes (entrypoints/turns.py's AnswerTurns)."""

    async def __call__(self, turn: ClaimedTurn) -> None: ...

    async def failed_unexpectedly(self, turn: ClaimedTurn, error: Exception) -> None: ...


@dataclass
class TurnPoller:
    """Claims due turns every `poll_interval_s` once `ready()` (the consumer caught up with
    its partitions, so a turn left by a crash is not answered before its last messages
    joined it) and runs each; one heartbeat renews the leases of all running turns with one
    statement. A turn that raises is recorded as an unexpected failure (retried within the
    budget, then failed); if even that fails, its lease runs out and a claim retries it."""

    store: TurnStore
    answer: AnswersTurns
    policy: TurnPolicy
    ready: Callable[[], bool]
    _task: asyncio.Task[None] | None = None
    _heartbeat: asyncio.Task[None] | None = None
    _running: dict[asyncio.Task[None], ClaimedTurn] = field(default_factory=dict)
    _recording: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="turn-poller")
        self._heartbeat = asyncio.create_task(self._renew(), name="turn-leases")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for tasks in (self._running, self._recording):
            if tasks:  # let running turns finish, bounded (their lease covers a crash)
                await asyncio.wait(list(tasks), timeout=10)
                for task in list(tasks):
                    task.cancel()
        if self._heartbeat:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            room = self.policy.max_concurrent - len(self._running)
            if room > 0 and self.ready():
                try:
                    for turn in await self.store.claim(datetime.now(UTC), room):
                        task = asyncio.create_task(self.answer(turn))
                        self._running[task] = turn
                        task.add_done_callback(self._ended)
                except Exception as exc:  # the database is down: try again next round
                    log.warning("claiming turns failed", error=type(exc).__name__)
            await asyncio.sleep(self.policy.poll_interval_s)

    def _ended(self, task: asyncio.Task[None]) -> None:
        turn = self._running.pop(task)
        error = None if task.cancelled() else task.exception()
        if not isinstance(error, Exception):
            return
        log.error("turn failed unexpectedly", turn_id=str(turn.turn_id), exc_info=error)
        recording = asyncio.create_task(self._record_failure(turn, error))
        self._recording.add(recording)
        recording.add_done_callback(self._recording.discard)

    async def _record_failure(self, turn: ClaimedTurn, error: Exception) -> None:
        try:
            await self.answer.failed_unexpectedly(turn, error)
        except Exception:  # the database is gone too: the lease ends, a claim retries
            log.warning("unexpected turn failure not recorded", turn_id=str(turn.turn_id))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.policy.lease_s / 3)
            turn_ids = [turn.turn_id for turn in self._running.values()]
            if not turn_ids:
                continue
            try:
                await self.store.renew(turn_ids, datetime.now(UTC))
            except Exception as exc:  # the database away: try again next beat; if a lease
                # lapses meanwhile another replica may claim it (the version check keeps
                # one reply)
                log.warning(
                    "turn leases not renewed", turns=len(turn_ids), error=type(exc).__name__
                )
