"""Load drivers: closed loop (N connections flat out) and open loop (a fixed offered rate,
one conversation's messages sent one after another, each after the previous one's ack).
Both are bounded in count and in time."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.rawhttp import Pool
from bench.webhook import Message


@dataclass
class ClosedLoopResult:
    completed: int  # answers inside the measuring window
    total_ok: int  # 200 answers at any time, warm-up included
    statuses: dict[int, int]
    errors: int
    measured_s: float
    latencies_s: list[float] = field(repr=False)
    acked: list[int] = field(repr=False, default_factory=list)  # indices answered 200

    @property
    def rate(self) -> float:
        return self.completed / self.measured_s if self.measured_s else 0.0


async def closed_loop(
    pool: Pool,
    request: Callable[[int], bytes],
    *,
    concurrency: int,
    warmup_s: float,
    measure_s: float,
    max_requests: int,
) -> ClosedLoopResult:
    """`concurrency` workers send request(i) back to back; only answers that arrive inside
    the measuring window (after the warm-up) are counted."""
    started = time.perf_counter()
    window_start = started + warmup_s
    window_end = window_start + measure_s
    counter = iter(range(max_requests))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    acked: list[int] = []
    errors = 0
    total_ok = 0

    async def worker() -> None:
        nonlocal errors, total_ok
        for index in counter:
            sent = time.perf_counter()
            if sent >= window_end:
                return
            try:
                response = await pool.send(request(index))
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                continue
            done = time.perf_counter()
            if response.status == 200:
                total_ok += 1
                acked.append(index)
            if window_start <= done < window_end:
                statuses[response.status] += 1
                latencies.append(done - sent)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    _, late = await asyncio.wait(workers, timeout=warmup_s + measure_s + 30)
    for task in late:  # answers that never came: stop waiting for them
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    errors += len(late)
    measured = min(time.perf_counter(), window_end) - window_start
    return ClosedLoopResult(
        completed=sum(statuses.values()),
        total_ok=total_ok,
        statuses=dict(statuses),
        errors=errors,
        measured_s=measured,
        latencies_s=latencies,
        acked=acked,
    )


@dataclass
class Sent:
    message: Message
    sent_at: float = 0.0  # wall clock (time.time), like the fakes' `at`
    acked_at: float = 0.0
    status: int = 0


async def open_loop(
    pool: Pool | Sequence[Pool], messages: list[Message], rate: float | None, timeout_s: float
) -> list[Sent]:
    """Send message i at t0 + i/rate (rate None: all at once, limited by the pool), but never
    before the previous message of its conversation was acknowledged. Several pools (one per
    gateway replica): message i goes to pool i mod n, so a conversation's messages alternate
    between replicas as behind a load balancer."""
    pools = [pool] if isinstance(pool, Pool) else list(pool)
    results = [Sent(message) for message in messages]
    tails: dict[str, asyncio.Task[None]] = {}
    tasks: list[asyncio.Task[None]] = []

    async def send(entry: Sent, target: Pool, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        entry.sent_at = time.time()
        try:
            response = await target.send(entry.message.raw)
        except (OSError, asyncio.IncompleteReadError):
            entry.status = -1
            return
        entry.acked_at = time.time()
        entry.status = response.status

    async def schedule() -> None:
        start = time.perf_counter()
        for index, entry in enumerate(results):
            if rate:
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            conversation = entry.message.conversation
            target = pools[index % len(pools)]
            task = asyncio.create_task(send(entry, target, tails.get(conversation)))
            tails[conversation] = task
            tasks.append(task)
        await asyncio.gather(*tasks)

    runner = asyncio.create_task(schedule())
    try:
        await asyncio.wait_for(asyncio.shield(runner), timeout_s)
    except TimeoutError:
        runner.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(runner, *tasks, return_exceptions=True)
    return results
