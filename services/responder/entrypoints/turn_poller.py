"""The turn poller: every replica claims due turns and runs each with a lease it renews
while the turn runs; a crashed replica's turns are claimed again once their lease ends."""

from __future__ import annotations

import asyncio
import contextlib
import time
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
    joined it) and runs each, renewing its lease while it runs."""

    store: TurnStore
    answer: AnswersTurns
    policy: TurnPolicy
    ready: Callable[[], bool]
    _task: asyncio.Task[None] | None = None
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="turn-poller")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:  # let running turns finish, bounded (their lease covers a crash)
            await asyncio.wait(self._running, timeout=10)
            for task in self._running:
                task.cancel()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            room = self.policy.max_concurrent - len(self._running)
            if room > 0 and self.ready():
                try:
                    for turn in await self.store.claim(datetime.now(UTC), room):
                        task = asyncio.create_task(self._one(turn))
                        self._running.add(task)
                        task.add_done_callback(self._running.discard)
                except Exception as exc:  # the database is down: try again next round
                    log.warning("claiming turns failed", error=type(exc).__name__)
            await asyncio.sleep(self.policy.poll_interval_s)

    async def _one(self, turn: ClaimedTurn) -> None:
        heartbeat = asyncio.create_task(self._renew(turn))
        started = time.monotonic()
        try:
            await self.answer(turn)
        except Exception as exc:
            log.exception("turn failed unexpectedly", turn_id=str(turn.turn_id))
            try:
                await self.answer.failed_unexpectedly(turn, exc)
            except Exception:  # the database is gone too: the lease ends, a claim retries
                log.warning("unexpected turn failure not recorded", turn_id=str(turn.turn_id))
        finally:
            heartbeat.cancel()
            log.debug("turn handled", seconds=round(time.monotonic() - started, 3))

    async def _renew(self, turn: ClaimedTurn) -> None:
        while True:
            await asyncio.sleep(self.policy.lease_s / 3)
            try:
                await self.store.renew(turn.turn_id, datetime.now(UTC))
            except Exception as exc:  # the database away: try again next beat; if the lease
                # lapses meanwhile another replica may claim it (the version check keeps
                # one reply)
                log.warning(
                    "turn lease not renewed", turn_id=str(turn.turn_id), error=type(exc).__name__
                )
