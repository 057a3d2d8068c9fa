"""Runs services as child processes: prefixed output, restart with backoff, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.output import Printer
from devstack.procs import death_signal_preexec

log = logging.getLogger("devstack.supervisor")

SUPERVISOR = "supervisor"
_MAX_LINE = 1 << 20  # a "line" longer than 1 MiB is printed in pieces


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path | None = None
    ready_url: str | None = None  # GET answers 200 when the service is ready
    # Stopped only once every other service has exited: the trace sink, which receives the
    # others' last spans while they shut down.
    stop_last: bool = False


@dataclass
class Backoff:
    """1 s, 2 s, 4 s … capped at ``cap``; back to ``initial`` after a run of ``reset_after`` s."""

    initial: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0
    _failures: int = field(default=0, init=False)

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.reset_after:
            self._failures = 0
        delay = min(self.initial * 2.0**self._failures, self.cap)
        self._failures += 1
        return delay


async def pump_lines(reader: asyncio.StreamReader, emit: Callable[[str], None]) -> None:
    """Call ``emit`` for each line read until EOF (a last unterminated line included)."""
    pending = b""
    while chunk := await reader.read(65536):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            emit(raw.decode("utf-8", errors="replace"))
        if len(pending) > _MAX_LINE:
            emit(pending.decode("utf-8", errors="replace"))
            pending = b""
    if pending:
        emit(pending.decode("utf-8", errors="replace"))


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _spawn(spec: ServiceSpec) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *spec.argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(spec.env),
        cwd=spec.cwd,
        start_new_session=True,  # its own process group: we decide when it gets signals
        preexec_fn=death_signal_preexec(signal.SIGTERM),
        limit=_MAX_LINE,
    )


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> int:
    """SIGTERM the process group, wait ``grace`` s, SIGKILL what is left of the group."""
    if proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    _signal_group(proc.pid, signal.SIGKILL)  # also reaps grandchildren left in the group
    return await proc.wait()


class Runner:
    """One run of one process, its output printed line by line with its name."""

    def __init__(self, spec: ServiceSpec, printer: Printer) -> None:
        self.spec = spec
        self._printer = printer
        self.proc: asyncio.subprocess.Process | None = None

    async def run(self, stop: asyncio.Event, stop_timeout: float) -> int | None:
        """Run to completion; returns the exit code, or None when ``stop`` ended it."""
        try:
            self.proc = proc = await _spawn(self.spec)
        except OSError as exc:
            self._printer.line(SUPERVISOR, f"{self.spec.name}: cannot start: {exc}")
            return 127
        assert proc.stdout is not None
        pump = asyncio.create_task(
            pump_lines(proc.stdout, lambda text: self._printer.line(self.spec.name, text))
        )
        exited = asyncio.create_task(proc.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        stopped = not exited.done()
        code = await _terminate(proc, stop_timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pump, 5)
        pump.cancel()
        return None if stopped else code


class ManagedService:
    """Keeps one service running: restarts it with backoff when it exits unexpectedly."""

    def __init__(
        self,
        spec: ServiceSpec,
        printer: Printer,
        *,
        stop_timeout: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.spec = spec
        self._printer = printer
        self._stop_timeout = stop_timeout
        self._backoff = backoff or Backoff()
        self._stop = asyncio.Event()
        self.restarts = 0
        self.runner: Runner | None = None

    @property
    def pid(self) -> int | None:
        proc = self.runner.proc if self.runner else None
        return proc.pid if proc is not None and proc.returncode is None else None

    async def run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.runner = Runner(self.spec, self._printer)
            code = await self.runner.run(self._stop, self._stop_timeout)
            if code is None or self._stop.is_set():
                return
            delay = self._backoff.next_delay(time.monotonic() - started)
            self._printer.line(
                SUPERVISOR,
                f"{self.spec.name} exited with code {code}; restarting in {delay:g}s",
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if not self._stop.is_set():
                self.restarts += 1

    def request_stop(self) -> None:
        self._stop.set()


class Supervisor:
    """Starts every service, restarts the ones that die, stops them all on request."""

    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        printer: Printer,
        *,
        stop_timeout: float = 10.0,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self._printer = printer
        self.services = [
            ManagedService(spec, printer, stop_timeout=stop_timeout, backoff=backoff())
            for spec in specs
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for service in self.services:
            self._tasks.append(asyncio.create_task(service.run(), name=service.spec.name))

    async def stop(self) -> None:
        """SIGTERM every service (SIGKILL after the stop timeout) and wait for all; the ones
        marked ``stop_last`` only after the others have exited."""
        running = dict(zip(self.services, self._tasks, strict=False))
        for last in (False, True):
            group = [s for s in self.services if s.spec.stop_last is last]
            for service in group:
                service.request_stop()
            tasks = [running[s] for s in group if s in running]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def wait_ready(self, poll_interval: float = 0.5, report_every: float = 30.0) -> None:
        """Return once every service's ``ready_url`` answers 200 (logs who is late)."""
        import httpx

        waiting = {s.spec.name: s.spec.ready_url for s in self.services if s.spec.ready_url}
        last_status: dict[str, str] = {}
        started = last_report = time.monotonic()
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while waiting:
                for name, url in list(waiting.items()):
                    assert url is not None
                    try:
                        response = await client.get(url)
                    except httpx.HTTPError as exc:
                        last_status[name] = type(exc).__name__
                        continue
                    if response.status_code == 200:
                        del waiting[name]
                    else:
                        last_status[name] = f"HTTP {response.status_code}"
                if not waiting:
                    return
                if time.monotonic() - last_report >= report_every:
                    last_report = time.monotonic()
                    late = ", ".join(f"{n} ({last_status.get(n, '?')})" for n in waiting)
                    self._printer.line(
                        SUPERVISOR,
                        f"still waiting after {last_report - started:.0f} s for: {late}",
                    )
                await asyncio.sleep(poll_interval)


async def run_one_shot(
    spec: ServiceSpec, printer: Printer, stop: asyncio.Event, stop_timeout: float = 10.0
) -> int | None:
    """Run a command to completion with prefixed output; None when ``stop`` ended it."""
    return await Runner(spec, printer).run(stop, stop_timeout)
