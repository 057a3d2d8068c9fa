"""What the figures were measured on: cores, memory, CPU model, load average."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def free_h() -> str:
    try:
        done = subprocess.run(["free", "-h"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI)."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = dict(item.split("=", 1) for item in first.split()[1:])
    return float(fields["avg10"]) if "avg10" in fields else None


def contention() -> dict[str, Any]:
    """What else wants the CPU right now: load average and CPU pressure."""
    return {
        "load_average": [round(v, 2) for v in load_average()],
        "cpu_pressure_avg10_pct": cpu_pressure(),
    }


def describe() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "free_h": free_h(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_start": [round(v, 2) for v in load_average()],
        "cpu_pressure_start_pct": cpu_pressure(),
    }
