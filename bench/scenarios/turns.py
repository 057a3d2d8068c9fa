"""Issue 14: what the turn window costs. Single-message conversations at 10 msg/s with an
instant model, first with the window at 0 (a reply per message: the per-message path), then
with every tenant's window at 2 s (each message is a turn of one, answered by the poller),
then at 0 again; plus the poller's cost while nothing is sent. Per phase: latency (send →
reply at Graph), CPU per message of each process, and database statements per message on
`responder_turns` (joins, claims, replies) apart from the rest. The window is set back to
0 at the end, whatever happened, so that later scenarios count a reply per message."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.context import Run
from bench.dbstats import tables_of
from bench.monitor import cpu_delta
from bench.scenarios.e2e import fixed_rate, per_message
from bench.stack import JWT_SECRET
from bench.tenants import user_token, wait_config_applied

TURNS_TABLE = "responder_turns"
RATE = 10.0
IDLE_S = 10.0


async def _set_window(run: Run, quiet_ms: int) -> None:
    """Every tenant's conversation settings through the config API, as a tenant would."""
    version = -1
    async with httpx.AsyncClient(base_url=run.stack.services["config"].url, timeout=10) as c:
        for tenant in run.tenants:
            token = user_token(JWT_SECRET, tenant.user_id)
            response = await c.put(
                "/v1/me/conversation-settings",
                headers={"Authorization": f"Bearer {token}"},
                json={"turn_quiet_ms": quiet_ms, "turn_max_ms": max(quiet_ms, 8000)},
            )
            if response.status_code != 200:
                raise RuntimeError(f"conversation settings: {response.status_code}")
            version = max(version, int(response.headers.get("x-config-version", -1)))
    await wait_config_applied(run.stack.config_readers, version)


async def _turn_statements(run: Run) -> dict[str, int]:
    """Calls since the last reset of statements on responder_turns, by their first word."""
    calls: dict[str, int] = {}
    for query, count in await run.stats.rows():
        if TURNS_TABLE in tables_of(query):
            word = query.lstrip(" (\n").split(None, 1)[0].lower()
            calls[word] = calls.get(word, 0) + count
    return calls


async def _histogram(run: Run, name: str) -> tuple[float, float]:
    """(sum, count) of one of the responder's Prometheus histograms."""
    text = (await run.http.get(run.stack.services["responder"].url + "/metrics")).text
    found = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in found:
            if line.startswith(f"{name}_{part} "):
                found[part] = float(line.split()[1])
    return found["sum"], found["count"]


async def _idle(run: Run) -> dict[str, Any]:
    """The poller's claim query (every RESPONDER_TURN_POLL_S per replica) and each
    process's CPU while no message arrives."""
    await run.stats.reset()
    before = run.cpu_now()
    await asyncio.sleep(IDLE_S)
    used = cpu_delta(before, run.cpu_now())
    calls = await _turn_statements(run)
    return {
        "seconds": IDLE_S,
        "turn_statements_per_s": {k: round(v / IDLE_S, 2) for k, v in calls.items()},
        "cpu_pct": {name: round(100 * s / IDLE_S, 2) for name, s in used.items()},
    }


async def _phase(run: Run, seconds: float) -> dict[str, Any]:
    await run.stats.reset()
    waited = await _histogram(run, "responder_turn_window_seconds")
    sizes = await _histogram(run, "responder_turn_messages")
    started = time.monotonic()
    before = run.cpu_now()
    result = await fixed_rate(run, RATE, seconds)
    used = cpu_delta(before, run.cpu_now())
    wall = time.monotonic() - started
    counts = await run.stats.count(result.replies)
    turns = await _turn_statements(run)
    waited_now = await _histogram(run, "responder_turn_window_seconds")
    waited_sum, turns_generated = waited_now[0] - waited[0], waited_now[1] - waited[1]
    answered = (await _histogram(run, "responder_turn_messages"))[1] - sizes[1]
    per = max(result.replies, 1)
    return {
        "wall_s": round(wall, 1),
        "turns_answered": int(answered),
        # first message of a turn → its generation starts (the window plus the claim delay)
        "window_wait_mean_s": (round(waited_sum / turns_generated, 2) if turns_generated else None),
        # the claim runs by time, whatever the load: per second of the phase
        "turn_statements_per_s": {k: round(v / wall, 2) for k, v in turns.items()},
        "e2e": {
            key: result.as_dict()[key]
            for key in ("sent", "replies", "missing", "duplicates", "total_ms", "overhead_ms")
        },
        **per_message(used, result.replies),
        "statements_per_message": counts.per_message,
        "turn_statements_per_message": {k: round(v / per, 2) for k, v in turns.items()},
    }


async def run_turns(run: Run) -> dict[str, Any]:
    if not await run.stats.available():
        return {"error": "pg_stat_statements is not installed"}
    seconds = 5.0 if run.quick else 15.0
    out: dict[str, Any] = {"rate": RATE, "idle_window_0": await _idle(run)}
    out["window_0"] = await _phase(run, seconds)
    try:
        await _set_window(run, 2000)
        out["idle_window_2s"] = await _idle(run)
        out["window_2s"] = await _phase(run, seconds)
    finally:
        await _set_window(run, 0)
    out["window_0_again"] = await _phase(run, seconds)
    return out
