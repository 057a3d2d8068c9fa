"""4. The seed's synchronous design (bench/seed.py) on the same PostgreSQL and fake Groq:
one message at a time (the seed's flow; with the instant model the median of three rounds),
and the same code with 64 connections at once, with the instant model and with the 300 ms
one; statements per message for comparison."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from bench import seed as seed_design
from bench.context import CONNECTIONS, Run
from bench.fakes import ModelDelay
from bench.load import ClosedLoopResult, closed_loop
from bench.procs import Child
from bench.rawhttp import Pool, build_request
from bench.scenarios.model import SLOW_MODEL
from devstack.ports import free_port


def _summary(result: ClosedLoopResult) -> dict[str, Any]:
    return {
        "rate": round(result.rate, 1),
        "completed": result.completed,
        "statuses": result.statuses,
        "errors": result.errors,
    }


async def _load(
    run: Run, port: int, concurrency: int, seconds: float, requests: list[bytes]
) -> ClosedLoopResult:
    pool = Pool(port, concurrency)
    try:
        return await closed_loop(
            pool,
            lambda index: requests[index % len(requests)],
            concurrency=concurrency,
            warmup_s=0.5,
            measure_s=seconds,
            max_requests=50_000,
        )
    finally:
        pool.close()


async def run_seed(run: Run) -> dict[str, Any]:
    engine = create_async_engine(run.stack.infra.database_url)
    try:
        await seed_design.create_schema(
            engine, [(t.user_id, t.number, t.groq_key) for t in run.tenants]
        )
    finally:
        await engine.dispose()
    port = free_port()
    env = {
        "DATABASE_URL": run.stack.infra.database_url,
        "GROQ_BASE_URL": run.stack.groq.url,
        "PYTHONUNBUFFERED": "1",
    }
    process = Child("seed-design", "bench.seed", port, env, run.log_dir, ["--port", str(port)])
    process.start()
    seconds = 2.0 if run.quick else 5.0
    requests = [
        build_request(
            "POST",
            "/api-chatbot",
            port,
            json.dumps(
                {"text": "bench seed", "source": "whatsapp", "phoneNumber": tenant.number}
            ).encode(),
            {"Content-Type": "application/json"},
        )
        for tenant in run.tenants
    ]
    try:
        process.wait_ready(90)
        run.rss.watch("seed-design", process.pid)
        await run.reset_fakes(ModelDelay())
        statements_ok = await run.stats.available()
        if statements_ok:
            await run.stats.reset()
        sequential = await _load(run, port, 1, seconds, requests)
        statements = (
            (await run.stats.count(sequential.total_ok)).as_dict() if statements_ok else None
        )
        # The ratio's denominator: one request at a time is at the mercy of every wake-up
        # on the way (73-121 msg/s between three runs of one morning), so two more rounds
        # and their median.
        rounds = [sequential] + [await _load(run, port, 1, seconds, requests) for _ in range(2)]
        concurrent = await _load(run, port, CONNECTIONS, seconds, requests)
        await run.reset_fakes(SLOW_MODEL)
        slow_sequential = await _load(run, port, 1, seconds + 1, requests)
        slow_concurrent = await _load(run, port, CONNECTIONS, seconds + 1, requests)
    finally:
        await run.reset_fakes(ModelDelay())
        process.stop()
    return {
        "instant_model": {
            "sequential": {
                **_summary(sorted(rounds, key=lambda r: r.rate)[1]),
                "rounds": [round(r.rate, 1) for r in rounds],
            },
            "c64": _summary(concurrent),
        },
        "slow_model": {
            "sequential": _summary(slow_sequential),
            "c64": _summary(slow_concurrent),
        },
        "statements": statements,
    }
