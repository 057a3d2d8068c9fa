"""Services as real OS processes: start, wait until ready, SIGKILL, restart; a second
replica of a running service beside the stack's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from devstack.children import ChildProcess as ServiceProcess
from devstack.paths import repo_root
from devstack.ports import free_port

ROOT = repo_root()

__all__ = ["ROOT", "ServiceProcess", "another_replica", "second_replica"]


def _replica_of(first: ServiceProcess, port_variable: str, log_dir: Path) -> ServiceProcess:
    """`first`'s settings on a port of its own (`port_variable`, e.g. GATEWAY_PORT)."""
    second = ServiceProcess(f"{first.name}-2", first.module, free_port(), {**first.env}, log_dir)
    second.env[port_variable] = str(second.port)
    return second


@contextmanager
def second_replica(
    first: ServiceProcess, port_variable: str, log_dir: Path
) -> Iterator[ServiceProcess]:
    """A second replica, ready when entered, stopped on exit (for sync fixtures)."""
    second = _replica_of(first, port_variable, log_dir)
    second.start()
    try:
        second.wait_ready()
        yield second
    finally:
        second.stop()


@asynccontextmanager
async def another_replica(
    first: ServiceProcess, port_variable: str, log_dir: Path
) -> AsyncIterator[ServiceProcess]:
    """The same for async tests: waiting for it to be ready does not block the loop."""
    second = _replica_of(first, port_variable, log_dir)
    second.start()
    try:
        await asyncio.to_thread(second.wait_ready)
        yield second
    finally:
        second.stop()
