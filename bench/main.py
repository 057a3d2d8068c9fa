"""`make bench`: start everything, run the scenarios, print the table, write the JSON."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import compare, machine, profile, report, tuned
from bench.context import CONNECTIONS, Run
from bench.dbstats import StatementStats
from bench.fakes import ModelDelay
from bench.infra import ROOT, provide_infra
from bench.monitor import RssSampler, cpu_delta, cpu_seconds
from bench.rawhttp import Pool
from bench.scenarios.ack import run_ack
from bench.scenarios.burst import run_burst
from bench.scenarios.e2e import run_e2e
from bench.scenarios.ingest import run_ingest
from bench.scenarios.limits import run_limits
from bench.scenarios.media import run_media
from bench.scenarios.model import run_model
from bench.scenarios.relay import run_relay
from bench.scenarios.scaleout import run_scaleout
from bench.scenarios.seed import run_seed
from bench.scenarios.turns import run_turns
from bench.stack import JWT_SECRET, Stack, provide_stack
from bench.tenants import configure, make_tenants

RESULTS = ROOT / "bench" / "results"
Scenario = Callable[[Run], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {
    "idle": lambda run: _idle_cpu(run),
    "ingest": run_ingest,
    "e2e": run_e2e,
    "relay": run_relay,
    "seed": run_seed,
    "burst": run_burst,
    "model": run_model,
    "ack": run_ack,
    "media": run_media,
    "turns": run_turns,
    "limits": run_limits,
    "scaleout": run_scaleout,  # last: it starts and stops replicas
}


# Upper bounds (s) per scenario, above the scenario's own send and drain deadlines so that a
# slow run still reports what it counted (replies missing included): on a healthy 2-core
# machine each takes far less; past its budget a scenario is marked as cut short.
BUDGET_S = {
    "idle": 30,
    "ingest": 300,
    "e2e": 660,
    "relay": 120,
    "seed": 120,
    "burst": 330,
    "model": 420,
    "ack": 360,
    "media": 420,
    "turns": 300,
    "limits": 300,
    "scaleout": 800,
}
DEFAULT_BUDGET_S = 150


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--traces", action="store_true", help="export spans to a local OTLP sink (as make up)"
    )
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy these services (comma-separated) during one scenario (--profile-during)",
    )
    parser.add_argument("--profile-during", default="e2e", choices=list(SCENARIOS))
    parser.add_argument("--profile-seconds", type=int, default=30)
    parser.add_argument(
        "--tune",
        default="",
        metavar="KNOB=VALUE,...",
        help="client settings patched into every service (see bench/tuned.py)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the services (tuning experiments)",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="RESULTS.json",
        help="BEFORE AFTER: print their before/after and exit; BEFORE alone: run, then"
        " compare this run with it",
    )
    args = parser.parse_args()
    if len(args.compare) > 2:
        parser.error("--compare takes one or two result files")
    return args


def _print_compare(before: dict[str, Any], after: dict[str, Any]) -> None:
    print(compare.table(before, after))
    print()
    print(compare.options_note(before, after))


async def _idle_cpu(run: Run, seconds: float = 5.0) -> dict[str, Any]:
    """CPU % of each process while nothing is sent: the cost of polling when idle."""
    pids = run.pids()
    before = cpu_seconds(pids)
    await asyncio.sleep(seconds)
    used = cpu_delta(before, cpu_seconds(pids))
    return {"cpu_pct": {k: round(100 * v / seconds, 1) for k, v in used.items()}}


async def _warm_up(run: Run) -> dict[str, Any]:
    """Connections, prepared statements and SDK clients, before anything is measured."""
    _, result = await run.send_and_collect(
        run.messages(5, 2), 100, ModelDelay(), send_timeout_s=30, drain_timeout_s=60
    )
    return {"replies": result.replies, "missing": result.missing}


async def _with_profile(
    run: Run, names: list[str], seconds: int, body: Awaitable[dict[str, Any]], stamp: str
) -> dict[str, Any]:
    started = {}
    for name in names:
        out = RESULTS / f"{stamp}-profile-{name}.txt"
        proc = profile.start(run.stack.services[name].pid, seconds, out)
        if proc is not None:
            started[name] = (proc, out)
    result = await body
    summaries = {}
    for name, (proc, out) in started.items():
        await asyncio.to_thread(proc.wait, seconds + 30)
        if out.exists():
            summaries[name] = profile.summarize(out)
    result["profiles"] = summaries
    return result


async def _scenarios(stack: Stack, args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    tenants = make_tenants(10)
    await configure(tenants, stack.services["config"].url, JWT_SECRET, stack.config_readers)
    rss = RssSampler()
    for name, pid in stack.pids().items():
        rss.watch(name, pid)
    extra = {"kafka": stack.infra.kafka_pid or 0, "postgres": stack.infra.pg_pid or 0}
    rss.start()
    chosen = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    results: dict[str, Any] = {"scenarios": {}, "load_average": {}, "timings_s": {}}
    async with httpx.AsyncClient(timeout=30) as http:
        run = Run(
            stack=stack,
            tenants=tenants,
            http=http,
            pool=Pool(stack.gateway.port, CONNECTIONS),
            rss=rss,
            stats=StatementStats(stack.infra.superuser),
            quick=args.quick,
            log_dir=stack.log_dir,
            extra_pids={k: v for k, v in extra.items() if v},
        )
        warmed = False
        for name in chosen:
            if name != "idle" and not warmed:
                results["warm_up"] = await _warm_up(run)
                warmed = True
            print(f"bench: {name} …", flush=True)
            results["load_average"][name] = machine.contention()
            started = time.monotonic()
            try:
                body = SCENARIOS[name](run)
                profiled = [n for n in args.profile.split(",") if n]
                if name == args.profile_during and profiled:
                    body = _with_profile(run, profiled, args.profile_seconds, body, stamp)
                budget = BUDGET_S.get(name, DEFAULT_BUDGET_S)
                outcome = await asyncio.wait_for(body, budget)
            except TimeoutError:
                outcome = {"error": f"cut short after its budget of {budget} s"}
            except Exception as exc:
                traceback.print_exc()
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
            results["timings_s"][name] = round(time.monotonic() - started, 1)
            results["scenarios"][name] = outcome
        run.pool.close()
    rss.stop()
    results["peak_rss_bytes"] = rss.peak
    return results


def main() -> None:
    args = _args()
    files = [Path(name) for name in args.compare]
    if len(files) == 2:
        _print_compare(compare.load(files[0]), compare.load(files[1]))
        return
    baseline = compare.load(files[0]) if files else None  # refuse a bad file before running
    unknown = {s for s in args.only.split(",") if s} - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = RESULTS / f"{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    overrides = dict(item.split("=", 1) for item in args.env)
    tuned.parse(args.tune)  # refuse an unknown knob before starting anything
    started = time.monotonic()
    info = machine.describe()
    print(f"bench: {info['nproc']} cores, {info['cpu_model']}, load {info['load_average_start']}")
    with provide_infra() as infra:
        print(f"bench: Kafka {infra.kafka}, PostgreSQL :{infra.pg_port}", flush=True)
        with provide_stack(
            infra, log_dir, traces=args.traces, env_overrides=overrides, tune=args.tune
        ) as stack:
            print("bench: services ready", flush=True)
            results = asyncio.run(_scenarios(stack, args, stamp))
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    info["cpu_pressure_end_pct"] = machine.cpu_pressure()
    results = {
        "started_at": stamp,
        "machine": info,
        "options": {
            "quick": args.quick,
            "traces": args.traces,
            "env": overrides,
            "tune": args.tune,
        },
        "wall_s": round(time.monotonic() - started, 1),
        **results,
    }
    table = report.rows(results)
    path = report.write_json({**results, "table": [row.__dict__ for row in table]}, RESULTS, stamp)
    print()
    print(report.markdown(table))
    print()
    print(
        f"load average: start {info['load_average_start']}, end {info['load_average_end']};"
        f" CPU pressure (PSI some avg10): start {info['cpu_pressure_start_pct']} %,"
        f" end {info['cpu_pressure_end_pct']} %; wall {results['wall_s']} s"
    )
    print(f"results: {path.relative_to(ROOT)}  (service logs: {log_dir.relative_to(ROOT)})")
    if baseline is not None:
        print()
        _print_compare(baseline, results)
