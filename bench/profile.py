"""Optional py-spy profiles of services during a scenario (`--profile gateway,responder`).

py-spy (PyPI, `pip install py-spy`) samples a running process from outside; `--nonblocking`
keeps it from pausing the target. Output is py-spy's "raw" collapsed stacks, summarised here
into the functions holding most samples (own time) and most samples below them (inclusive).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    exe = py_spy()
    if exe is None:
        return None
    command = [exe, "record", "--nonblocking", "-r", "97", "-d", str(seconds), "-f", "raw"]
    command += ["-o", str(out), "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(frame: str) -> str:
    """'func (path/to/module.py:123)' → 'func (module.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if parts else path
    return f"{name} ({short})"


def summarize(raw: Path, top: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": frame, "pct": round(100 * n / total, 1)}
            for frame, n in counter.most_common(top)
        ]

    return {"samples": total, "own": share(own), "inclusive": share(inclusive)}
