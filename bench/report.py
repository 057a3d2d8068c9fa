"""The run's figures as one table (Markdown, so it can go into docs/benchmarks.md as is)
and the whole result as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    scenario: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return float(a) / float(b)
    return None


def _pcts(node: Any) -> str:
    if not isinstance(node, Mapping):
        return "n/a"
    return " / ".join(_num(node.get(p)) for p in ("p50", "p95", "p99")) + " ms"


def _le(value: Any, limit: float) -> bool | None:
    return None if not isinstance(value, int | float) else float(value) <= limit


def _ge(value: Any, limit: float) -> bool | None:
    return None if not isinstance(value, int | float) else float(value) >= limit


def rows(results: Mapping[str, Any]) -> list[Row]:
    out: list[Row] = []
    r = results.get("scenarios", {})
    ingest_ratio = _get(r, "ingest.ratio")
    out.append(
        Row(
            "1 ingest",
            "signed webhooks/s at 64 conn. (bare hello endpoint)",
            f"{_num(_get(r, 'ingest.gateway.rate'))} ({_num(_get(r, 'ingest.bare.rate'))})"
            f" → {_num(ingest_ratio, 2)}x",
            "≥ 0.6x",
            _ge(ingest_ratio, 0.6),
        )
    )
    out.append(
        Row(
            "1 ingest",
            "backlog drained after ingest, msg/s (pipeline alone)",
            _num(_get(r, "ingest.backlog.rate")),
        )
    )
    for key, label in (("rate_10.e2e", "10"), ("rate_50.e2e", "50"), ("rate_200.e2e", "200")):
        e2e = _get(r, f"e2e.{key}") or {}
        overhead = e2e.get("overhead_ms") or {}
        target = "p50 ≤ 10, p99 ≤ 50 ms" if label == "200" else ""
        met = None
        if label == "200":
            p50, p99 = _le(overhead.get("p50"), 10), _le(overhead.get("p99"), 50)
            met = None if p50 is None or p99 is None else p50 and p99
        out.append(
            Row(
                "2 e2e",
                f"offered {label} msg/s: achieved msg/s; overhead p50/p95/p99",
                f"{_num(e2e.get('rate'))}; {_pcts(overhead)}",
                target,
                met,
            )
        )
    cpu = _get(r, "e2e.rate_50.cpu_ms_per_message") or {}
    if cpu:
        names = ("gateway", "identity", "responder", "config", "kafka", "postgres")
        total = sum(float(cpu.get(n, 0.0)) for n in names)
        out.append(
            Row(
                "2 e2e",
                "CPU ms/msg at 50 msg/s: gw, identity, responder, config, Kafka, PG = total"
                " → ceiling on 2 cores",
                ", ".join(_num(cpu.get(n)) for n in names)
                + f" = {total:,.1f} → {2000 / total:,.0f} msg/s"
                if total
                else "n/a",
            )
        )
    sat = _get(r, "e2e.saturation.e2e") or {}
    out.append(
        Row(
            "2 e2e",
            "saturation (64 conn.): msg/s; ingest webhooks/s; overhead p50/p99 (queueing)",
            f"{_num(sat.get('rate'))}; {_num(sat.get('send_rate'))};"
            f" {_num(_get(sat, 'overhead_ms.p50'))} / {_num(_get(sat, 'overhead_ms.p99'))} ms",
        )
    )
    relay = _get(r, "relay.rate")
    relay_ratio = _ratio(sat.get("rate"), relay)
    out.append(
        Row(
            "3 relay",
            "raw aiokafka relay, 3 topics, msg/s → e2e saturation as share",
            f"{_num(relay)} → {_num(relay_ratio, 3)}x",
            "≥ 0.5x",
            _ge(relay_ratio, 0.5),
        )
    )
    seed_seq = _get(r, "seed.instant_model.sequential.rate")
    seed_ratio = _ratio(sat.get("rate"), seed_seq)
    out.append(
        Row(
            "4 seed",
            "seed design, one at a time, msg/s → e2e saturation ratio",
            f"{_num(seed_seq)} → {_num(seed_ratio, 2)}x",
            "≥ 5x",
            _ge(seed_ratio, 5),
        )
    )
    seed_c64 = _get(r, "seed.instant_model.c64.rate")
    out.append(
        Row(
            "4 seed",
            "seed code at 64 conn. (not the seed's design), msg/s → ratio",
            f"{_num(seed_c64)} → {_num(_ratio(sat.get('rate'), seed_c64), 2)}x",
        )
    )
    slow_seq = _get(r, "seed.slow_model.sequential.rate")
    slow_ours = _get(r, "model.e2e.rate")
    out.append(
        Row(
            "4 seed",
            "300 ms model: seed one at a time vs ours at 100 msg/s offered",
            f"{_num(slow_seq)} vs {_num(slow_ours)} → {_num(_ratio(slow_ours, slow_seq), 1)}x",
            "≥ 5x",
            _ge(_ratio(slow_ours, slow_seq), 5),
        )
    )
    per = _get(r, "e2e.rate_200.statements.per_message") or {}
    seed_per = _get(r, "seed.statements.per_message") or {}
    out.append(
        Row(
            "5 db",
            "statements/msg: reads, writes, BEGIN, COMMIT, ROLLBACK (seed design)",
            ", ".join(_num(per.get(k), 2) for k in ("read", "write", "begin", "commit", "rollback"))
            + " ("
            + ", ".join(
                _num(seed_per.get(k), 2) for k in ("read", "write", "begin", "commit", "rollback")
            )
            + ")",
        )
    )
    out.append(
        Row(
            "5 db",
            "configuration reads per message (seed design)",
            f"{_num(per.get('config_read'), 2)} ({_num(seed_per.get('config_read'), 2)})",
            "0",
            None if "config_read" not in per else per["config_read"] == 0,
        )
    )
    rss = results.get("peak_rss_bytes", {})
    for name in ("gateway", "identity", "responder", "config"):
        value = rss.get(name)
        out.append(
            Row(
                "6 memory",
                f"peak RSS {name}",
                f"{_num(value / MB if value else None)} MB",
                "≤ 150 MB",
                None if value is None else value <= 150 * MB,
            )
        )
    burst = r.get("burst", {})
    out.append(
        Row(
            "7 burst",
            "1,000 msgs / 10 tenants: drain s; exactly once; order kept",
            f"{_num(burst.get('drain_s'), 2)} s; {burst.get('exactly_once')};"
            f" {_get(burst, 'e2e.out_of_order') == 0}",
            "exactly once",
            burst.get("exactly_once"),
        )
    )
    model = _get(r, "model.e2e") or {}
    p99 = _get(model, "overhead_ms.p99")
    model_ok = _ge(model.get("rate"), 80)
    p99_ok = _le(p99, 1000)
    out.append(
        Row(
            "8 300 ms model",
            "offered 100 msg/s: msg/s; overhead p50/p95/p99; out-of-order conv.",
            f"{_num(model.get('rate'))}; {_pcts(model.get('overhead_ms'))};"
            f" {model.get('out_of_order')}/{model.get('conversations')}",
            "≥ 80 msg/s, p99 < 1 s, in order",
            None
            if model_ok is None or p99_ok is None
            else model_ok and p99_ok and model.get("out_of_order") == 0,
        )
    )
    return out


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
