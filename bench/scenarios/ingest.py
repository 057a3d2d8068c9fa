"""1. Signed WhatsApp webhooks/s at 64 connections vs a bare FastAPI hello endpoint.

The gateway is measured alone: the other services are paused (SIGSTOP) for the few
seconds of the run, so the CPU they would spend on the backlog does not count against the
gateway. Its ack still includes the full acceptance (signature, one transaction with the
inbound row and the outbox row) and its after-ack publish to Kafka. The backlog is then
processed after SIGCONT, and how fast it drains is reported too (the pipeline's own rate
with no ingest competing for the CPU).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench import fakes
from bench.analysis import ms
from bench.context import CONNECTIONS, Run
from bench.fakes import ModelDelay
from bench.load import ClosedLoopResult, closed_loop
from bench.monitor import cpu_delta, cpu_seconds
from bench.procs import Child
from bench.rawhttp import Pool, build_request
from devstack.ports import free_port

WARMUP_S = 1.0


def _summary(result: ClosedLoopResult) -> dict[str, Any]:
    return {
        "rate": round(result.rate, 1),
        "completed": result.completed,
        "statuses": result.statuses,
        "errors": result.errors,
        "measured_s": round(result.measured_s, 2),
        "latency_ms": ms(result.latencies_s),
    }


async def bare_endpoint(run: Run, measure_s: float, body: bytes) -> ClosedLoopResult:
    """All four services are paused meanwhile: their idle Kafka polling would otherwise take
    CPU from the baseline (on 2 cores, a lot of it; see the idle scenario)."""
    port = free_port()
    bare = Child("bare", "bench.bare", port, {}, run.log_dir, ["--port", str(port)])
    bare.start()
    services = list(run.stack.services.values())
    try:
        bare.wait_ready(90)
        for child in services:
            child.pause()
        run.rss.watch("bare", bare.pid)
        raw = build_request("POST", "/hello", port, body, {"Content-Type": "application/json"})
        pool = Pool(port, CONNECTIONS)
        try:
            return await closed_loop(
                pool,
                lambda _: raw,
                concurrency=CONNECTIONS,
                warmup_s=WARMUP_S,
                measure_s=measure_s,
                max_requests=200_000,
            )
        finally:
            pool.close()
    finally:
        for child in services:
            child.resume()
        bare.stop()


async def _replies(run: Run, wamids: list[str]) -> dict[str, int]:
    """Every acknowledged webhook answered once (single-message conversations: no order)."""
    await asyncio.sleep(0.5)  # a duplicate send would show up here
    sends = Counter(send.wamid for send in await fakes.graph_sends(run.http, run.stack.graph.url))
    return {
        "acked": len(wamids),
        "missing": sum(1 for wamid in wamids if wamid not in sends),
        "duplicates": sum(sends[wamid] - 1 for wamid in wamids if sends[wamid] > 1),
        "out_of_order": 0,
    }


async def run_ingest(run: Run) -> dict[str, Any]:
    measure_s = 2.0 if run.quick else 4.0
    messages = run.messages(run.scale(900, 300), 1)
    await run.reset_fakes(ModelDelay())
    bare = await bare_endpoint(run, measure_s, messages[0].raw.split(b"\r\n\r\n", 1)[1])
    downstream = [run.stack.services[name] for name in ("identity", "responder", "config")]
    before = await run.deliveries()
    pids = {
        name: pid for name, pid in run.pids().items() if name in ("gateway", "kafka", "postgres")
    }
    for child in downstream:
        child.pause()
    cpu_before = cpu_seconds(pids)
    try:
        gateway = await closed_loop(
            run.pool,
            lambda index: messages[index].raw,
            concurrency=CONNECTIONS,
            warmup_s=WARMUP_S,
            measure_s=measure_s,
            max_requests=len(messages),
        )
    finally:
        cpu_used = cpu_delta(cpu_before, cpu_seconds(pids))
        for child in downstream:
            child.resume()
    # everything the gateway acknowledged (warm-up included) must now go through
    acknowledged = gateway.total_ok
    resumed = time.monotonic()
    done = await run.wait_deliveries(before + acknowledged, timeout_s=150)
    drain_s = time.monotonic() - resumed
    replies = await _replies(run, [messages[index].wamid for index in gateway.acked])
    exhausted = gateway.completed + gateway.errors >= len(messages)
    return {
        "bare": _summary(bare),
        "gateway": _summary(gateway),
        "ratio": round(gateway.rate / bare.rate, 3) if bare.rate else None,
        "messages_prebuilt_exhausted": exhausted,
        "cpu_ms_per_webhook": {
            name: round(1000 * seconds / max(gateway.total_ok, 1), 2)
            for name, seconds in cpu_used.items()
        },
        "backlog": {
            "messages": acknowledged,
            "delivered": int(done - before),
            "drain_s": round(drain_s, 2),
            "rate": round((done - before) / drain_s, 1) if drain_s else None,
        },
        "replies": replies,
    }
