"""Issue 16: what the limits cost. The same single-message load at 10 msg/s with an instant
model three times: every tenant without limits, every tenant with generous limits set by
the administrator (messages and flood per minute, tokens per day: never reached), then
without again (the same path twice: how far this machine's noise moves a figure). Per
phase: `pg_stat_statements` per message by kind, on `responder_limit_counters` apart; CPU
per message of each process; send → reply at Graph and overhead p50/p99; the load. Then
every figure of the limits phase and of the second no-limits phase as a ratio to the first.
The limits are removed at the end, whatever happened."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from bench import machine
from bench.context import Run
from bench.dbstats import kind_of, tables_of
from bench.monitor import cpu_delta
from bench.scenarios.e2e import fixed_rate, per_message
from bench.stack import JWT_SECRET
from bench.tenants import wait_config_applied

COUNTERS_TABLE = "responder_limit_counters"
CONVERSATIONS_TABLE = "customer_conversations"  # the rows the counting rides on
RATE = 10.0
# Far above what the bench sends, so every message takes the counting path and is answered.
GENEROUS = {
    "messages_per_minute": 100_000,
    "tokens_per_day": 1_000_000_000,
    "flood_per_minute": 1_000,
}


def _admin_token() -> str:
    claims = {"role": "service_role", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


async def _set_limits(run: Run, on: bool) -> None:
    """PUT (or DELETE) each tenant's own limits through the admin API; wait until every
    service applied the change."""
    version = -1
    headers = {"Authorization": f"Bearer {_admin_token()}"}
    async with httpx.AsyncClient(base_url=run.stack.services["config"].url, timeout=10) as c:
        for tenant in run.tenants:
            path = f"/v1/admin/tenants/{tenant.user_id}/limits"
            if on:
                response = await c.put(path, headers=headers, json=GENEROUS)
                ok = response.status_code == 200
            else:
                response = await c.delete(path, headers=headers)
                ok = response.status_code in (204, 404)
            if not ok:
                raise RuntimeError(f"limits {'PUT' if on else 'DELETE'}: {response.status_code}")
            version = max(version, int(response.headers.get("x-config-version", -1)))
    await wait_config_applied(run.stack.config_readers, version)


def _counter_statements(rows: list[tuple[str, int]], per: int) -> dict[str, float]:
    """Statements touching the counters, by kind; `shared:` those that also store the
    message or its reply (the counting rides on them: no statement of its own; they start
    with WITH, so `kind_of` calls them reads)."""
    calls: dict[str, int] = {}
    for query, count in rows:
        tables = tables_of(query)
        if COUNTERS_TABLE in tables:
            kind = kind_of(query)
            if CONVERSATIONS_TABLE in tables:
                kind = f"shared:{kind}"
            calls[kind] = calls.get(kind, 0) + count
    return {kind: round(n / per, 2) for kind, n in calls.items()}


async def _phase(run: Run, seconds: float) -> dict[str, Any]:
    load_before = machine.contention()
    await run.stats.reset()
    before = run.cpu_now()
    result = await fixed_rate(run, RATE, seconds)
    used = cpu_delta(before, run.cpu_now())
    rows = await run.stats.rows()
    counts = await run.stats.count(result.replies)
    e2e = result.as_dict()
    return {
        "e2e": {k: e2e[k] for k in ("sent", "replies", "missing", "duplicates")},
        "total_ms": e2e["total_ms"],
        "overhead_ms": e2e["overhead_ms"],
        **per_message(used, result.replies),
        "statements_per_message": counts.per_message,
        "counter_statements_per_message": _counter_statements(rows, max(result.replies, 1)),
        "top_statements": counts.top[:12],
        "load_before": load_before,
        "load_after": machine.contention(),
    }


def _ratio(after: float | None, before: float | None) -> float | None:
    if after is None or not before:
        return None
    return round(after / before, 2)


def ratios(base: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    """The figures the issue asks for, `other` ÷ `base`."""
    s0, s1 = base["statements_per_message"], other["statements_per_message"]
    c0, c1 = base["cpu_ms_per_message"], other["cpu_ms_per_message"]
    return {
        "statements": _ratio(s1["total"], s0["total"]),
        "reads": _ratio(s1["read"], s0["read"]),
        "writes": _ratio(s1["write"], s0["write"]),
        "responder_cpu": _ratio(c1.get("responder"), c0.get("responder")),
        "total_p50": _ratio(other["total_ms"]["p50"], base["total_ms"]["p50"]),
        "total_p99": _ratio(other["total_ms"]["p99"], base["total_ms"]["p99"]),
        "overhead_p50": _ratio(other["overhead_ms"]["p50"], base["overhead_ms"]["p50"]),
        "overhead_p99": _ratio(other["overhead_ms"]["p99"], base["overhead_ms"]["p99"]),
    }


async def run_limits(run: Run) -> dict[str, Any]:
    if not await run.stats.available():
        return {"error": "pg_stat_statements is not installed"}
    seconds = 5.0 if run.quick else 15.0
    out: dict[str, Any] = {"rate": RATE, "limits": GENEROUS}
    out["no_limits"] = await _phase(run, seconds)
    try:
        await _set_limits(run, True)
        out["limits_set"] = await _phase(run, seconds)
    finally:
        await _set_limits(run, False)
    out["no_limits_again"] = await _phase(run, seconds)
    out["ratios"] = {
        "limits_set": ratios(out["no_limits"], out["limits_set"]),
        "no_limits_again": ratios(out["no_limits"], out["no_limits_again"]),
    }
    return out
