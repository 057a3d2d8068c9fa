"""Before/after of two result files: every named figure (bench/figures.py) both runs have,
side by side, with after ÷ before and whether that is better. `python -m bench --compare
BEFORE.json AFTER.json` prints it without running anything; `--compare BEFORE.json` alone
runs the bench and compares its result with BEFORE."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.figures import extract, values


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _verdict(better: str, before: float, after: float) -> str:
    if not better or before == after:
        return ""
    improved = after > before if better == "higher" else after < before
    return "better" if improved else "worse"


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def table(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Markdown: figure | before | after | after ÷ before | better or worse."""
    old = values(before)
    lines = [
        f"| figure | before ({before.get('started_at', '?')}) | after"
        f" ({after.get('started_at', '?')}) | after ÷ before | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for figure, new in extract(after):
        was = old.get(figure.key)
        if was is None or new is None:
            continue
        factor = "same" if new == was else (f"{new / was:,.2f}x" if was else "n/a")
        lines.append(
            f"| {figure.label} | {_fmt(was)} | {_fmt(new)} | {factor}"
            f" | {_verdict(figure.better, was, new)} |"
        )
    return "\n".join(lines)


def options_note(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """What differs between the runs besides the code: quick or not, tuning, machine load."""
    parts = []
    for name, data in (("before", before), ("after", after)):
        options = data.get("options") or {}
        machine = data.get("machine") or {}
        parts.append(
            f"{name}: {'quick' if options.get('quick') else 'full'} run,"
            f" load average {machine.get('load_average_start')} → {machine.get('load_average_end')}"
        )
    return "; ".join(parts)
