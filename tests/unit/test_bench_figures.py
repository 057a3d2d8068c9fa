"""The benchmark's arithmetic: figures from a result file, the table, and the before/after."""

from __future__ import annotations

from typing import Any

from bench import compare, report
from bench.analysis import end_to_end, model_time_waited, steady
from bench.fakes import GraphSend, ModelCall
from bench.figures import cpu_split, values
from bench.load import Sent
from bench.webhook import Message


def _e2e(rate: float, p99: float, missing: int = 0, out_of_order: int = 0) -> dict[str, Any]:
    return {
        "rate": rate,
        "steady_rate": rate,
        "missing": missing,
        "duplicates": 0,
        "out_of_order": out_of_order,
        "ack_errors": 0,
        "conversations": 10,
        "overhead_ms": {"p50": p99 / 2, "p95": p99, "p99": p99},
        "ack_ms": {"p50": 20.0, "p95": 90.0, "p99": 120.0},
    }


def _results(saturation: float, cpu_gateway: float) -> dict[str, Any]:
    return {
        "started_at": "T",
        "scenarios": {
            "e2e": {
                "rate_10": {"e2e": _e2e(10, 40)},
                "rate_50": {
                    "e2e": _e2e(50, 80),
                    "cpu_ms_per_message": {
                        "gateway": cpu_gateway,
                        "kafka": 1.0,
                        "postgres": 1.0,
                        "load-generator": 5.0,
                        "fake-graph": 2.0,
                    },
                },
                "saturation": {"e2e": _e2e(saturation, 900)},
            },
            "relay": {"rate": 2000.0},
            "seed": {"instant_model": {"sequential": {"rate": 40.0}}},
            "model": {"e2e": _e2e(78.0, 700, out_of_order=1), "offered_rate": 80},
            "ack": {"e2e": _e2e(80, 10), "offered_rate": 80, "ack_over_1s_pct": 0.0},
        },
        "peak_rss_bytes": {"gateway": 120 * 1024 * 1024, "gateway-2": 160 * 1024 * 1024},
    }


def test_cpu_total_leaves_out_the_load_generator_and_the_fakes() -> None:
    system, load = cpu_split({"gateway": 4.0, "kafka": 1.0, "load-generator": 5.0, "fake-groq": 1})
    assert (system, load) == (5.0, 6.0)


def test_figures_are_ratios_against_baselines_of_the_same_run() -> None:
    figures = values(_results(saturation=200.0, cpu_gateway=6.0))
    assert figures["seed.ratio"] == 5.0
    assert figures["relay.share"] == 0.1
    assert figures["cpu_50.total"] == 8.0
    assert figures["checks.out_of_order"] == 1.0
    assert figures["ingest.ratio"] is None  # not run: no figure, not zero


def test_table_marks_targets_and_replicas() -> None:
    table = {row.figure: row for row in report.rows(_results(200.0, 6.0))}
    cpu = next(row for name, row in table.items() if name.startswith("CPU ms/msg at 50"))
    assert cpu.met is True
    rss = table["peak RSS gateway-2"]
    assert rss.met is False
    model = next(row for row in table.values() if row.scenario == "8 300 ms model")
    assert model.met is False  # one conversation out of order
    assert report.markdown(report.rows({})).startswith("| scenario |")  # nothing ran


def test_compare_shows_after_over_before_and_the_direction() -> None:
    text = compare.table(_results(100.0, 10.0), _results(200.0, 6.0))
    saturation = next(line for line in text.splitlines() if "saturation: replies/s" in line)
    assert "2.00x" in saturation and "better" in saturation
    cpu = next(line for line in text.splitlines() if "CPU ms/msg gateway" in line)
    assert "0.60x" in cpu and "better" in cpu


def test_steady_rate_skips_the_warm_up_and_the_drain() -> None:
    replies = [0.05 + i / 10 for i in range(100)] + [20.0 + i for i in range(5)]
    assert round(steady(0.0, 10.0, replies), 1) == 10.0


def test_a_message_behind_a_slow_call_is_not_charged_the_model_time_it_waited_for() -> None:
    """Replies keep their conversation's order, so a message acked 1 s into its
    conversation's 3 s call cannot be answered before that call ends: the 2 s it waits are
    the model's, not the pipeline's. Its own call and the one before are subtracted; the
    old figure (its own call only) keeps the wait."""
    slow, fast = Message("w1", "c", b""), Message("w2", "c", b"")
    sent = [Sent(slow, 99.9, 100.0, 200), Sent(fast, 100.9, 101.0, 200)]
    graph = [GraphSend("w1", 103.02, "c"), GraphSend("w2", 103.35, "c")]
    calls = {"w1": ModelCall(100.01, 3.0), "w2": ModelCall(103.03, 0.3)}

    result = end_to_end(sent, graph, calls, None)

    assert result.overhead_ms["max"] == 40.0  # 2.35 s - (2.01 s of w1's call + 0.3 s of its own)
    assert result.overhead_own_ms["max"] == 2050.0
    assert model_time_waited(0.0, 10.0, [ModelCall(1, 2), ModelCall(2, 2), ModelCall(9, 5)]) == 4
