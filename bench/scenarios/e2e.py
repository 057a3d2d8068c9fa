"""2 + 5. End to end, webhook → Graph send, instant model: overhead at 10 msg/s (below
capacity), CPU and database statements per message at a steady 50 msg/s, and saturation."""

from __future__ import annotations

from typing import Any

from bench.analysis import EndToEnd
from bench.context import Run
from bench.fakes import ModelDelay
from bench.monitor import cpu_delta

INSTANT = ModelDelay()


def per_message(used: dict[str, float], replies: int) -> dict[str, Any]:
    per = max(replies, 1)
    return {
        "cpu_ms_per_message": {name: round(s * 1000 / per, 2) for name, s in used.items()},
        "cpu_s": {name: round(s, 2) for name, s in used.items()},
    }


async def fixed_rate(run: Run, rate: float, seconds: float) -> EndToEnd:
    """Single-message conversations, fresh customers, offered at `rate`."""
    count = int(rate * seconds)
    messages = run.messages(max(1, count // len(run.tenants)), 1)[:count]
    _, result = await run.send_and_collect(
        messages, rate, INSTANT, send_timeout_s=seconds + 30, drain_timeout_s=90
    )
    return result


async def measured_rate(run: Run, rate: float, seconds: float) -> dict[str, Any]:
    """A fixed-rate run with statement counts and CPU per message of every process (the
    window runs from the first send to the last reply plus a short grace)."""
    statements_ok = await run.stats.available()
    if statements_ok:
        await run.stats.reset()
    before = run.cpu_now()
    result = await fixed_rate(run, rate, seconds)
    used = cpu_delta(before, run.cpu_now())
    out: dict[str, Any] = {"e2e": result.as_dict(), **per_message(used, result.replies)}
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
    before = run.cpu_now()
    _, result = await run.send_and_collect(
        messages, None, INSTANT, send_timeout_s=120, drain_timeout_s=180
    )
    used = cpu_delta(before, run.cpu_now())
    return {"e2e": result.as_dict(), **per_message(used, result.replies)}


async def run_e2e(run: Run) -> dict[str, Any]:
    return {
        # below capacity: the pipeline's own latency, without queueing
        "rate_10": await measured_rate(run, 10, 5.0 if run.quick else 10.0),
        # the CPU figure: a steady load every process has to keep up with
        "rate_50": await measured_rate(run, 50, 5.0 if run.quick else 20.0),
        "saturation": await saturation(run),
    }
