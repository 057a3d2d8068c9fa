"""2 + 5. End to end, webhook → Graph send: fixed offered rates and saturation; database
statements per message (pg_stat_statements) and CPU per message per process at 200 msg/s."""

from __future__ import annotations

from typing import Any

from bench.analysis import EndToEnd
from bench.context import Run
from bench.fakes import ModelDelay
from bench.monitor import cpu_delta, cpu_seconds

INSTANT = ModelDelay()


async def fixed_rate(run: Run, rate: float, seconds: float) -> EndToEnd:
    count = int(rate * seconds)
    messages = run.messages(max(1, count // len(run.tenants)), 1)[:count]
    _, result = await run.send_and_collect(
        messages, rate, INSTANT, send_timeout_s=seconds + 30, drain_timeout_s=90
    )
    return result


async def measured_rate(run: Run, rate: float, seconds: float) -> dict[str, Any]:
    """A fixed-rate run with statement counts and CPU per message per process."""
    statements_ok = await run.stats.available()
    if statements_ok:
        await run.stats.reset()
    pids = run.pids()
    before = cpu_seconds(pids)
    result = await fixed_rate(run, rate, seconds)
    used = cpu_delta(before, cpu_seconds(pids))
    per = max(result.replies, 1)
    out: dict[str, Any] = {
        "e2e": result.as_dict(),
        "cpu_ms_per_message": {name: round(s * 1000 / per, 2) for name, s in used.items()},
        "cpu_s": {name: round(s, 2) for name, s in used.items()},
    }
    if statements_ok:
        out["statements"] = (await run.stats.count(result.replies)).as_dict()
    else:
        out["statements"] = {"available": False, "note": "pg_stat_statements is not installed"}
    return out


async def saturation(run: Run) -> dict[str, Any]:
    """As fast as 64 connections go (conversations of 10 messages, each after the previous
    one's ack); the reply rate while the backlog drains is the pipeline's capacity."""
    customers = run.scale(10, 5)  # per tenant: 100 conversations of 10 → 1,000 messages
    messages = run.messages(customers, 10)
    pids = run.pids()
    before = cpu_seconds(pids)
    _, result = await run.send_and_collect(
        messages, None, INSTANT, send_timeout_s=120, drain_timeout_s=180
    )
    used = cpu_delta(before, cpu_seconds(pids))
    per = max(result.replies, 1)
    return {
        "e2e": result.as_dict(),
        "cpu_ms_per_message": {name: round(s * 1000 / per, 2) for name, s in used.items()},
    }


async def run_e2e(run: Run) -> dict[str, Any]:
    return {
        # below this machine's capacity: the pipeline's own latency, without queueing
        "rate_10": await measured_rate(run, 10, 5.0 if run.quick else 10.0),
        "rate_50": await measured_rate(run, 50, 4.0 if run.quick else 10.0),
        "rate_200": await measured_rate(run, 200, 2.5 if run.quick else 5.0),
        "saturation": await saturation(run),
    }
