"""devstack's supervisor stops the trace sink only after the services that export to it."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path

from devstack.output import Printer
from devstack.supervisor import ServiceSpec, Supervisor

# A child that says when it is up, and on SIGTERM takes a moment (as a service flushing its
# last spans does) before it writes its name to the shared log and exits.
CHILD = """
import signal, sys, time
name, log, linger = sys.argv[1], sys.argv[2], float(sys.argv[3])
def stop(signum, frame):
    time.sleep(linger)
    with open(log, "a") as f:
        f.write(name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(log + "." + name, "w").close()
while True:
    time.sleep(1)
"""


def spec(name: str, log: Path, linger: float, *, stop_last: bool = False) -> ServiceSpec:
    argv = [sys.executable, "-c", CHILD, name, str(log), str(linger)]
    return ServiceSpec(name, argv, env={}, stop_last=stop_last)


def all_started(log: Path, specs: list[ServiceSpec]) -> bool:
    return all(Path(f"{log}.{s.name}").exists() for s in specs)


async def test_the_sink_marked_stop_last_is_stopped_after_the_others(tmp_path: Path) -> None:
    log = tmp_path / "stopped.log"
    specs = [
        spec("traces", log, 0.0, stop_last=True),
        spec("gateway", log, 0.3),
        spec("responder", log, 0.3),
    ]
    supervisor = Supervisor(specs, Printer(io.StringIO(), color=False), stop_timeout=10)
    supervisor.start()
    deadline = time.monotonic() + 30
    while not all_started(log, specs):
        assert time.monotonic() < deadline, "the children did not start"
        await asyncio.sleep(0.05)

    await supervisor.stop()

    order = log.read_text().split()
    assert sorted(order[:2]) == ["gateway", "responder"]
    assert order[2:] == ["traces"]
