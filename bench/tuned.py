"""Run a service with tuning applied from outside its code, to measure a proposed change
before anyone makes it: `python -m bench.tuned services.gateway` with BENCH_TUNE set, e.g.
BENCH_TUNE="fetch_max_wait_ms=500,pre_ping=0".

Knobs (patched in before the service is imported, so every client it builds gets them):
  fetch_max_wait_ms  every AIOKafkaConsumer (the hot consumers use 500, with fetch_min_bytes 1)
  fetch_min_bytes    every AIOKafkaConsumer: with fetch_max_wait_ms, a linger per hop (the
                     broker answers a fetch once this much is there or the wait is over)
  linger_ms          every AIOKafkaProducer (shared.messaging uses 0)
  pre_ping           0 or 1: create_async_engine(pool_pre_ping=...) (shared.db passes none)
  cprofile           1: run the service under cProfile; stats go to $BENCH_CPROFILE_DIR at
                     exit (exact call counts, at several times the CPU cost: for attribution)
Used by `python -m bench --tune ...`; the services' own code is not changed.
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
from collections.abc import Callable
from typing import Any

import sqlalchemy.ext.asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

CLIENT_KNOBS: dict[str, type] = {
    "fetch_max_wait_ms": AIOKafkaConsumer,
    "fetch_min_bytes": AIOKafkaConsumer,
    "linger_ms": AIOKafkaProducer,
}
KNOBS = (*CLIENT_KNOBS, "pre_ping", "cprofile")


def parse(spec: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        if name not in KNOBS or not value.isdigit():
            raise SystemExit(f"bench.tuned: unknown or invalid knob {item!r} (know {KNOBS})")
        out[name] = int(value)
    return out


def _override_init(cls: type, name: str, value: int) -> None:
    original: Callable[..., None] = cls.__init__  # type: ignore[misc]

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs[name] = value
        original(self, *args, **kwargs)

    cls.__init__ = init  # type: ignore[misc]


def _override_pre_ping(enabled: bool) -> None:
    original = sqlalchemy.ext.asyncio.create_async_engine

    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        kwargs["pool_pre_ping"] = enabled
        return original(*args, **kwargs)

    sqlalchemy.ext.asyncio.create_async_engine = create


def apply(spec: str) -> dict[str, int]:
    knobs = parse(spec)
    for name, value in knobs.items():
        if name == "pre_ping":
            _override_pre_ping(bool(value))
        elif name == "cprofile":
            pass  # see main()
        else:
            _override_init(CLIENT_KNOBS[name], name, value)
    return knobs


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bench.tuned <module>")
    knobs = apply(os.environ.get("BENCH_TUNE", ""))
    module = sys.argv[1]
    sys.argv = [module]
    if not knobs.get("cprofile"):
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    import cProfile
    import time
    from pathlib import Path

    profiler = cProfile.Profile(time.process_time)  # CPU time: preemption is not cost
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        profiler.disable()
        directory = Path(os.environ.get("BENCH_CPROFILE_DIR", "."))
        profiler.dump_stats(directory / f"{module.rsplit('.', 1)[-1]}.prof")


if __name__ == "__main__":
    main()
