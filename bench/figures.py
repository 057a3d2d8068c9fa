"""The named figures of a run, computed from its result JSON: what the table shows and what
`--compare` sets side by side. Computed again from the raw results of each file, so result
files written before a figure existed still compare on the figures they have."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MB = 1024 * 1024
SERVICES = ("gateway", "identity", "responder", "config")
# processes whose CPU is the load, not the system: reported apart from the total
NOT_THE_SYSTEM = ("load-generator", "fake-groq", "fake-graph", "trace-sink")
# scenarios whose replies are counted at the fake Graph: (figure prefix, path in results)
CHECKED = (
    ("ingest", "ingest.replies"),
    ("e2e_10", "e2e.rate_10.e2e"),
    ("e2e_50", "e2e.rate_50.e2e"),
    ("saturation", "e2e.saturation.e2e"),
    ("burst", "burst.e2e"),
    ("model", "model.e2e"),
    ("ack", "ack.e2e"),
    ("scaleout", "scaleout.e2e"),
)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    better: str = ""  # "higher", "lower" or "" (context, not a goal)


def get(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def ratio(a: Any, b: Any) -> float | None:
    x, y = number(a), number(b)
    return x / y if x is not None and y else None


def cpu_split(per_message: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(system total: services with their replicas, Kafka, PostgreSQL; the load: generator
    and fakes), ms per message."""
    if not per_message:
        return None, None
    system = load = 0.0
    for name, value in per_message.items():
        if name in NOT_THE_SYSTEM:
            load += float(value)
        elif name not in ("bare", "seed-design"):
            system += float(value)
    return system, load


def _base(r: Mapping[str, Any]) -> list[tuple[Figure, float | None]]:
    sat = get(r, "e2e.saturation.e2e.rate")
    seed_seq = get(r, "seed.instant_model.sequential.rate")
    seed_c64 = get(r, "seed.instant_model.c64.rate")
    model = get(r, "model.e2e.steady_rate")
    if model is None:  # result files from before the steady rate
        model = get(r, "model.e2e.rate")
    cpu, load = cpu_split(get(r, "e2e.rate_50.cpu_ms_per_message") or {})
    return [
        (Figure("ingest.rate", "ingest: signed webhooks/s at 64 conn.", "higher"),
         number(get(r, "ingest.gateway.rate"))),
        (Figure("ingest.bare", "ingest: bare endpoint requests/s"), number(get(r, "ingest.bare.rate"))),
        (Figure("ingest.ratio", "ingest: share of the bare endpoint", "higher"),
         number(get(r, "ingest.ratio"))),
        (Figure("ingest.backlog_rate", "ingest: backlog drained, msg/s", "higher"),
         number(get(r, "ingest.backlog.rate"))),
        (Figure("e2e_10.p50", "10 msg/s: overhead p50 ms", "lower"),
         number(get(r, "e2e.rate_10.e2e.overhead_ms.p50"))),
        (Figure("e2e_10.p99", "10 msg/s: overhead p99 ms", "lower"),
         number(get(r, "e2e.rate_10.e2e.overhead_ms.p99"))),
        (Figure("e2e_50.steady_rate", "50 msg/s: replies/s while sending", "higher"),
         number(get(r, "e2e.rate_50.e2e.steady_rate"))),
        (Figure("e2e_50.p50", "50 msg/s: overhead p50 ms", "lower"),
         number(get(r, "e2e.rate_50.e2e.overhead_ms.p50"))),
        (Figure("cpu_50.total", "50 msg/s: CPU ms/msg, all processes of the system", "lower"), cpu),
        (Figure("cpu_50.load", "50 msg/s: CPU ms/msg of the load generator and fakes"), load),
        *[
            (Figure(f"cpu_50.{name}", f"50 msg/s: CPU ms/msg {name}", "lower"),
             number(get(r, f"e2e.rate_50.cpu_ms_per_message.{name}")))
            for name in (*SERVICES, "kafka", "postgres")
        ],
        (Figure("saturation.rate", "saturation: replies/s", "higher"), number(sat)),
        (Figure("relay.rate", "raw 3-hop relay: records/s"), number(get(r, "relay.rate"))),
        (Figure("relay.share", "saturation as share of the raw relay", "higher"),
         ratio(sat, get(r, "relay.rate"))),
        (Figure("seed.rate", "seed design (one at a time): msg/s"), number(seed_seq)),
        (Figure("seed.ratio", "saturation ÷ seed design", "higher"), ratio(sat, seed_seq)),
        (Figure("seed.c64_ratio", "saturation ÷ seed code at 64 conn.", "higher"),
         ratio(sat, seed_c64)),
        (Figure("seed.slow_ratio", "300 ms model: ours ÷ seed design", "higher"),
         ratio(model, get(r, "seed.slow_model.sequential.rate"))),
    ]  # fmt: skip


def _later(r: Mapping[str, Any], results: Mapping[str, Any]) -> list[tuple[Figure, float | None]]:
    per = get(r, "e2e.rate_50.statements.per_message") or get(
        r,
        "e2e.rate_200.statements.per_message",  # result files from before
    )
    rss = results.get("peak_rss_bytes") or {}
    memory = [
        (Figure(f"rss.{name}", f"peak RSS {name}, MB", "lower"), value / MB)
        for name, value in sorted(rss.items())
        if name.split("-")[0] in SERVICES and number(value)
    ]
    statements = (
        sum(float(per.get(k, 0.0)) for k in ("read", "write", "begin", "commit")) if per else None
    )
    return [
        (Figure("db.statements", "statements/msg (reads, writes, BEGIN, COMMIT)", "lower"), statements),
        (Figure("db.config_reads", "configuration reads/msg", "lower"),
         number((per or {}).get("config_read"))),
        *memory,
        (Figure("burst.drain_s", "burst of 1,000: drain s", "lower"), number(get(r, "burst.drain_s"))),
        (Figure("model.steady_rate", "300 ms model at 80 msg/s: replies/s while sending", "higher"),
         number(get(r, "model.e2e.steady_rate"))),
        (Figure("model.p99", "300 ms model: overhead p99 ms", "lower"),
         number(get(r, "model.e2e.overhead_ms.p99"))),
        (Figure("ack.p50", "webhook ack at 80 msg/s: p50 ms", "lower"), number(get(r, "ack.e2e.ack_ms.p50"))),
        (Figure("ack.p99", "webhook ack at 80 msg/s: p99 ms", "lower"), number(get(r, "ack.e2e.ack_ms.p99"))),
        (Figure("ack.over_1s_pct", "webhook ack at 80 msg/s: % over 1 s", "lower"),
         number(get(r, "ack.ack_over_1s_pct"))),
        (Figure("scaleout.rate", "2 + 2 replicas, saturation: replies/s", "higher"),
         number(get(r, "scaleout.e2e.rate"))),
        (Figure("scaleout.ratio", "2 + 2 replicas ÷ one replica, saturation", "higher"),
         ratio(get(r, "scaleout.e2e.rate"), get(r, "e2e.saturation.e2e.rate"))),
    ]  # fmt: skip


def checks(r: Mapping[str, Any]) -> dict[str, dict[str, int] | None]:
    """Per scenario: replies lost (acknowledged, never answered), sent twice, conversations
    answered out of order, webhooks not acknowledged; None where the scenario did not run."""
    out: dict[str, dict[str, int] | None] = {}
    for name, path in CHECKED:
        node = get(r, path)
        if not isinstance(node, Mapping):
            out[name] = None
            continue
        out[name] = {
            "lost": int(node.get("missing") or 0),
            "duplicates": int(node.get("duplicates") or 0),
            "out_of_order": int(node.get("out_of_order") or 0),
            "not_acked": int(node.get("ack_errors") or 0),
        }
    return out


def extract(results: Mapping[str, Any]) -> list[tuple[Figure, float | None]]:
    r = results.get("scenarios") or {}
    out = [*_base(r), *_later(r, results)]
    counted = [c for c in checks(r).values() if c is not None]
    for kind in ("lost", "duplicates", "out_of_order"):
        total = float(sum(c[kind] for c in counted)) if counted else None
        out.append(
            (Figure(f"checks.{kind}", f"all scenarios: {kind.replace('_', ' ')}", "lower"), total)
        )
    return out


def values(results: Mapping[str, Any]) -> dict[str, float | None]:
    return {figure.key: value for figure, value in extract(results)}
