"""A test's own Kafka and PostgreSQL (local processes on free ports), to kill with SIGKILL
and restart on the same port and data, and what a fault test watches meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.kafka import KafkaServer
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.testinfra import TEST_POSTGRES_SETTINGS

# Commits durable against a killed server (not against a power cut: no fsync, which only
# an OS crash would need). The test settings' synchronous_commit=off acknowledges commits
# that a SIGKILL then loses, which no production database would do.
CRASH_SAFE_POSTGRES = {**TEST_POSTGRES_SETTINGS, "synchronous_commit": "on"}


@dataclass
class PrivateInfra:
    kafka: KafkaServer
    postgres: PostgresServer


@contextmanager
def private_infra(root: Path) -> Iterator[PrivateInfra]:
    """Never the session's shared servers: other tests must not see these die."""
    infra = PrivateInfra(
        KafkaServer(root / "kafka", free_port()),
        PostgresServer(root / "postgres", free_port(), settings=CRASH_SAFE_POSTGRES),
    )
    try:
        with ThreadPoolExecutor(2) as pool:  # the two start-ups overlap
            for started in [pool.submit(infra.kafka.start), pool.submit(infra.postgres.start)]:
                started.result()
        yield infra
    finally:
        infra.kafka.stop()
        infra.postgres.stop()


@dataclass
class ReadinessWatch:
    """Polls a service's /readyz and keeps (monotonic time, ready) for every answer."""

    url: str
    seen: list[tuple[float, bool]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        async with httpx.AsyncClient(timeout=3) as client:
            while True:
                try:
                    ready = (await client.get(self.url + "/readyz")).status_code == 200
                except httpx.HTTPError:
                    ready = False
                self.seen.append((time.monotonic(), ready))
                await asyncio.sleep(0.2)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def ready_between(self, start: float, end: float) -> list[bool]:
        return [ready for at, ready in self.seen if start <= at <= end]


async def all_ready(urls: list[str], deadline: float) -> bool:
    """Whether every service answers /readyz 200 before `deadline` (monotonic)."""
    async with httpx.AsyncClient(timeout=3) as client:
        pending = list(urls)
        while pending:
            try:
                if (await client.get(pending[0] + "/readyz")).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
    return True
