"""The run's figures as one table (Markdown, so it can go into docs/benchmarks.md as is)
and the whole result as JSON. Targets are issue 11's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.figures import MB, SERVICES, checks, cpu_split, get, values


@dataclass(frozen=True)
class Row:
    scenario: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None


def num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pcts(node: Any) -> str:
    if not isinstance(node, Mapping):
        return "n/a"
    return " / ".join(num(node.get(p)) for p in ("p50", "p95", "p99")) + " ms"


def _rounds(r: Mapping[str, Any]) -> str:
    rounds = get(r, "seed.instant_model.sequential.rounds")
    return ", ".join(num(x) for x in rounds) if isinstance(rounds, list) else "one round"


def _le(value: Any, limit: float) -> bool | None:
    return None if not isinstance(value, int | float) else float(value) <= limit


def _ge(value: Any, limit: float) -> bool | None:
    return None if not isinstance(value, int | float) else float(value) >= limit


def _all(*checks: bool | None) -> bool | None:
    return None if any(c is None for c in checks) else all(checks)


def _exact(e2e: Mapping[str, Any]) -> bool | None:
    if not e2e:
        return None
    return e2e.get("missing") == 0 and e2e.get("duplicates") == 0 and e2e.get("out_of_order") == 0


def _ingest_and_e2e(r: Mapping[str, Any], f: Mapping[str, float | None]) -> list[Row]:
    e10 = get(r, "e2e.rate_10.e2e") or {}
    e50 = get(r, "e2e.rate_50.e2e") or {}
    sat = get(r, "e2e.saturation.e2e") or {}
    cpu = get(r, "e2e.rate_50.cpu_ms_per_message") or {}
    total, load = cpu_split(cpu)
    ceiling = f" → ceiling {2000 / total:,.0f} msg/s on 2 cores" if total else ""
    return [
        Row("1 ingest", "signed webhooks/s at 64 conn. (bare endpoint) → share",
            f"{num(get(r, 'ingest.gateway.rate'))} ({num(get(r, 'ingest.bare.rate'))})"
            f" → {num(f['ingest.ratio'], 2)}x", "≥ 0.4x", _ge(f["ingest.ratio"], 0.4)),
        Row("1 ingest", "backlog drained after ingest, msg/s (pipeline alone)",
            num(get(r, "ingest.backlog.rate"))),
        Row("2 e2e", "offered 10 msg/s: replies/s; overhead p50/p95/p99",
            f"{num(e10.get('rate'))}; {_pcts(e10.get('overhead_ms'))}", "p50 ≤ 15, p99 ≤ 50 ms",
            _all(_le(f["e2e_10.p50"], 15), _le(f["e2e_10.p99"], 50))),
        Row("2 e2e", "offered 50 msg/s: replies/s while sending; overhead p50/p95/p99",
            f"{num(e50.get('steady_rate'))}; {_pcts(e50.get('overhead_ms'))}"),
        Row("2 e2e", "CPU ms/msg at 50 msg/s: gw, identity, responder, config, Kafka, PG = total",
            ", ".join(num(cpu.get(n)) for n in (*SERVICES, "kafka", "postgres"))
            + f" = {num(total)}{ceiling}", "≤ 10 ms", _le(total, 10)),
        Row("2 e2e", "CPU ms/msg at 50 msg/s of the load (not in the total): generator, fake "
            "Groq, fake Graph = sum",
            ", ".join(num(cpu.get(n)) for n in ("load-generator", "fake-groq", "fake-graph"))
            + f" = {num(load)}"),
        Row("2 e2e", "saturation (64 conn.): replies/s; webhooks acked/s; overhead p50/p99",
            f"{num(sat.get('rate'))}; {num(sat.get('send_rate'))};"
            f" {num(get(sat, 'overhead_ms.p50'))} / {num(get(sat, 'overhead_ms.p99'))} ms"),
    ]  # fmt: skip


def _baselines(r: Mapping[str, Any], f: Mapping[str, float | None]) -> list[Row]:
    per = get(r, "e2e.rate_50.statements.per_message") or {}
    seed_per = get(r, "seed.statements.per_message") or {}
    kinds = ("read", "write", "begin", "commit", "rollback")
    return [
        Row("3 relay", "raw aiokafka relay, 3 topics, records/s → saturation as share",
            f"{num(get(r, 'relay.rate'))} → {num(f['relay.share'], 3)}x", "≥ 0.05x",
            _ge(f["relay.share"], 0.05)),
        Row("4 seed", "seed design, one at a time, msg/s (median of its rounds) → saturation ratio",
            f"{num(f['seed.rate'])} ({_rounds(r)}) → {num(f['seed.ratio'], 2)}x", "≥ 3x",
            _ge(f["seed.ratio"], 3)),
        Row("4 seed", "seed code at 64 conn. (not the seed's design), msg/s → ratio",
            f"{num(get(r, 'seed.instant_model.c64.rate'))} → {num(f['seed.c64_ratio'], 2)}x"),
        Row("4 seed", "300 ms model: seed one at a time vs ours at 80 msg/s offered",
            f"{num(get(r, 'seed.slow_model.sequential.rate'))} vs {num(f['model.steady_rate'])}"
            f" → {num(f['seed.slow_ratio'], 1)}x"),
        Row("5 db", "statements/msg at 50 msg/s: reads, writes, BEGIN, COMMIT, ROLLBACK (seed)",
            ", ".join(num(per.get(k), 2) for k in kinds)
            + " (" + ", ".join(num(seed_per.get(k), 2) for k in kinds) + ")"),
        Row("5 db", "configuration reads per message (seed design)",
            f"{num(per.get('config_read'), 2)} ({num(seed_per.get('config_read'), 2)})", "0",
            None if "config_read" not in per else per["config_read"] == 0),
    ]  # fmt: skip


def _memory(results: Mapping[str, Any]) -> list[Row]:
    rss = results.get("peak_rss_bytes") or {}
    names = [n for n in sorted(rss) if n.split("-")[0] in SERVICES] or list(SERVICES)
    out = []
    for name in names:
        value = rss.get(name)
        out.append(
            Row("6 memory", f"peak RSS {name}", f"{num(value / MB if value else None)} MB",
                "≤ 150 MB", None if value is None else value <= 150 * MB)
        )  # fmt: skip
    return out


def _under_load(r: Mapping[str, Any], f: Mapping[str, float | None]) -> list[Row]:
    burst = r.get("burst") or {}
    model = get(r, "model.e2e") or {}
    offered = get(r, "model.offered_rate") or 80
    ack = r.get("ack") or {}
    ack_e2e = ack.get("e2e") or {}
    scale = get(r, "scaleout.e2e") or {}
    gateways = get(r, "scaleout.per_gateway") or {}
    return [
        Row("7 burst", "1,000 msgs / 10 tenants: drain s; exactly once, in order",
            f"{num(burst.get('drain_s'), 2)} s; {_exact(burst.get('e2e') or {})}",
            "exactly once, in order", _exact(burst.get("e2e") or {})),
        Row("8 300 ms model", f"offered {num(offered, 0)} msg/s for"
            f" {num(get(r, 'model.offered_s'), 0)} s (acked {num(model.get('send_rate'))}/s):"
            " replies/s while sending; overhead p50/p95/p99 (minus the model time waited"
            " on; minus its own call only); conv. out of order",
            f"{num(model.get('steady_rate'))}; {_pcts(model.get('overhead_ms'))}"
            f" ({_pcts(model.get('overhead_own_ms'))});"
            f" {num(model.get('out_of_order'))}/{num(model.get('conversations'))}",
            f"≥ {num(offered, 0)} msg/s (±5 %), p99 < 1 s, in order",
            _all(_ge(model.get("steady_rate"), 0.95 * float(offered)),
                 _le(f["model.p99"], 1000), _exact(model))),
        Row("9 webhook ack", f"offered {num(ack.get('offered_rate'), 0)} msg/s (sent"
            f" {num(ack.get('sent_rate'))}/s), 300 ms model: ack p50/p95/p99; % over 1 s",
            f"{_pcts(ack_e2e.get('ack_ms'))}; {num(ack.get('ack_over_1s_pct'), 2)} %",
            "p50 ≤ 50, p99 ≤ 250 ms", _all(_le(f["ack.p50"], 50), _le(f["ack.p99"], 250))),
        Row("10 scale-out", "2 gateways + 2 responders, saturation: replies/s (÷ one replica);"
            " replies sent per gateway",
            f"{num(scale.get('rate'))} ({num(f['scaleout.ratio'], 2)}x); "
            + ", ".join(f"{num(g.get('replies_sent'))}" for g in gateways.values())),
        Row("10 scale-out", "exactly once and in order per conversation across replicas",
            f"{_exact(scale)}", "exactly once, in order", _exact(scale)),
    ]  # fmt: skip


def _checks(r: Mapping[str, Any]) -> list[Row]:
    out = []
    for name, counts in checks(r).items():
        if counts is None:
            continue
        value = " / ".join(str(counts[k]) for k in ("lost", "duplicates", "out_of_order"))
        met = counts["lost"] == counts["duplicates"] == counts["out_of_order"] == 0
        out.append(
            Row("11 checks", f"{name}: lost / duplicate replies / conv. out of order"
                f" (webhooks not acked)", f"{value} ({counts['not_acked']})", "0 / 0 / 0", met)
        )  # fmt: skip
    return out


def rows(results: Mapping[str, Any]) -> list[Row]:
    r = results.get("scenarios") or {}
    f = values(results)
    return [
        *_ingest_and_e2e(r, f),
        *_baselines(r, f),
        *_memory(results),
        *_under_load(r, f),
        *_checks(r),
    ]


def markdown(table: list[Row]) -> str:
    lines = [
        "| scenario | figure | value | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in table:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.scenario} | {row.figure} | {row.value} | {row.target} | {met} |")
    return "\n".join(lines)


def write_json(results: Mapping[str, Any], directory: Path, stamp: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    return path
