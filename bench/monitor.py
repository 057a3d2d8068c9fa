"""Peak RSS per process (sampled in a thread) and CPU seconds per process between marks."""

from __future__ import annotations

import threading

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """user + system CPU seconds of each process and its children (PostgreSQL backends)."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        total = 0.0
        for proc in _tree(pid):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        out[name] = total
    return out


def own_cpu_seconds() -> float:
    """user + system CPU seconds of this process alone (the load generator), not its
    children (every service is one)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


class RssSampler:
    """Samples the resident set size of each process every `interval_s`; keeps the peak."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self._interval = interval_s
        self._pids: dict[str, int] = {}
        self._lock = threading.Lock()
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._pids[name] = pid

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                pids = dict(self._pids)
            for name, pid in pids.items():
                try:
                    rss = int(psutil.Process(pid).memory_info().rss)
                except psutil.Error:
                    continue
                if rss > self.peak.get(name, 0):
                    self.peak[name] = rss
