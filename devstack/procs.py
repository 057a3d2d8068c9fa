"""Child-process helpers: process groups, parent-death signal, stopping, log tails."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def death_signal_preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when we die (Linux only).

    So a ``kill -9`` of ``make up`` or of pytest does not leave a broker or a database
    running. Linux sends the signal when the *thread* that forked the child exits, so this
    is only used when forking from the main thread; elsewhere it returns None and the
    child simply outlives us (``reap_stale`` of each server cleans that up on next start).
    """
    prctl = _PRCTL
    if prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def signal_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid`` (falls back to the process alone)."""
    try:
        os.killpg(pid, sig)
        return True
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_popen(
    proc: subprocess.Popen[bytes],
    *,
    sig: int = signal.SIGTERM,
    timeout: float = 15.0,
    kill_timeout: float = 5.0,
) -> int | None:
    """Send ``sig`` to the child's process group, wait ``timeout``, then SIGKILL the group.

    The child must have been started with ``start_new_session=True``. Returns its exit code.
    """
    if proc.poll() is None:
        signal_group(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    # SIGKILL the group even when the leader has exited: nothing of it may stay behind.
    signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(kill_timeout)
    return proc.returncode


def find_processes(match: Callable[[list[str]], bool]) -> list[psutil.Process]:
    """Running processes whose command line satisfies ``match``."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.pid != os.getpid() and cmdline and match(list(cmdline)):
            found.append(proc)
    return found


def stop_processes(procs: Iterable[psutil.Process], sig: int, timeout: float) -> None:
    """Send ``sig`` to each process (and its group when it leads one), SIGKILL survivors."""
    targets = list(procs)
    for proc in targets:
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
    _gone, alive = psutil.wait_procs(targets, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
    psutil.wait_procs(alive, timeout=5)


def reap_leftovers(
    what: str, match: Callable[[list[str]], bool], own_pid: int | None, sig: int, timeout: float
) -> list[int]:
    """Stop processes an earlier run left behind (matched by command line); their pids."""
    stale = [proc for proc in find_processes(match) if proc.pid != own_pid]
    if stale:
        logging.getLogger("devstack").warning(
            "stopping %s left running (pid %s)", what, ", ".join(str(p.pid) for p in stale)
        )
        stop_processes(stale, sig, timeout=timeout)
    return [proc.pid for proc in stale]


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ("" when it does not exist)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except OSError:
        return ""


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class ServerProcess:
    """A server started and stopped around a `with` block, run as one child process."""

    _proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server at once (to simulate a crash)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_popen(proc, sig=signal.SIGKILL, timeout=5)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
