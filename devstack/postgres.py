"""A private PostgreSQL server on 127.0.0.1, run as a child process."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from devstack.errors import StartupError
from devstack.os_user import (
    RunAs,
    give_to,
    make_readable_tree,
    make_traversable,
    postgres_os_user,
)
from devstack.pg_binaries import PgBinaries, find_pg_binaries
from devstack.pg_setup import SUPERUSER, AppDatabase, create_role_and_database
from devstack.ports import LOOPBACK
from devstack.procs import ServerProcess, death_signal_preexec, reap_leftovers, stop_popen, tail

__all__ = ["SUPERUSER", "PostgresServer"]

log = logging.getLogger("devstack.postgres")

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


class PostgresServer(ServerProcess):
    """PostgreSQL on 127.0.0.1:``port`` with a database ``app`` owned by role ``app``.

    Layout of ``data_dir``: ``pgdata/`` (the cluster, created once by initdb),
    ``run/`` (the Unix socket, used only by us for set-up), ``postgres.log``.
    TCP connections need a password (scram-sha-256); the ``app`` role has password ``app``
    and CREATEROLE (migrations create restricted roles). As root, the server runs as the
    unprivileged OS user ``embedded_postgres`` (created when missing).
    """

    user = "app"
    password = "app"  # noqa: S105 (a local dev/test database)
    database = "app"

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        settings: Mapping[str, str] | None = None,
        binaries: PgBinaries | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._settings = dict(settings or {})
        self._binaries = binaries
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ properties
    @property
    def url(self) -> str:
        """SQLAlchemy URL for the asyncpg driver."""
        return (
            f"postgresql+asyncpg://{self.user}:{self.password}@{LOOPBACK}:{self.port}/"
            f"{self.database}"
        )

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def binaries(self) -> PgBinaries:
        if self._binaries is None:
            self._binaries = find_pg_binaries()
        return self._binaries

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 60) -> None:
        """initdb (first time only), start, wait until ready, create role and database."""
        if self.is_running():
            return
        binaries = self.binaries
        run_as = postgres_os_user()
        self.reap_stale()
        self._prepare_dirs(binaries, run_as)
        if not self._initialized():
            self._initdb(binaries, run_as)
        socket_dir = self._socket_dir(run_as)
        settings = self._server_settings(binaries, socket_dir)
        self._launch(binaries, run_as, settings)
        self._wait_ready(timeout)
        preload = "pg_stat_statements" in settings.get("shared_preload_libraries", "")
        try:
            create_role_and_database(
                binaries.exe("psql"),
                socket_dir,
                self.port,
                AppDatabase(self.user, self.password, self.database),
                with_pg_stat_statements=preload,
            )
        except StartupError:
            self.stop()
            raise

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, close sessions), then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_popen(proc, sig=signal.SIGINT, timeout=timeout)

    def reap_stale(self) -> list[int]:
        """Stop a server that an earlier run left behind on this data dir; return its pids."""
        marker = str(self.pgdata)
        return reap_leftovers(
            f"a PostgreSQL server on {self.pgdata}",
            lambda cmd: marker in cmd and cmd[0].endswith("postgres"),
            self.pid,
            signal.SIGINT,
            timeout=30,
        )

    # ------------------------------------------------------------------ internals
    def _initialized(self) -> bool:
        return (self.data_dir / ".initdb-done").exists() and (self.pgdata / "PG_VERSION").exists()

    def _prepare_dirs(self, binaries: PgBinaries, run_as: RunAs | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if run_as is None:
            return
        make_traversable(self.data_dir)
        give_to(self.data_dir, run_as)
        if binaries.source == "embedded-postgres":
            postgres_mode = binaries.exe("postgres").stat().st_mode
            if not postgres_mode & stat.S_IXOTH:
                make_readable_tree(binaries.bindir.parent)
            make_traversable(binaries.bindir)

    def _child_env(self) -> dict[str, str]:
        """Our environment without PG* and locale variables, with a runtime dir of ours."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PG", "LC_")) and key not in {"LANG", "LANGUAGE"}
        }
        env.update({"LC_ALL": "C", "TZ": "UTC", "XDG_RUNTIME_DIR": str(self.data_dir / "run")})
        return env

    def _initdb(self, binaries: PgBinaries, run_as: RunAs | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.pgdata)  # an initdb interrupted half-way
        (self.data_dir / "run").mkdir(exist_ok=True)
        if run_as is not None:
            give_to(self.data_dir / "run", run_as)
        command = [
            str(binaries.exe("initdb")),
            "--pgdata",
            str(self.pgdata),
            "--username",
            SUPERUSER,
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--auth-local",
            "trust",
            "--auth-host",
            "scram-sha-256",
            "--no-instructions",
        ]
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            preexec_fn=death_signal_preexec(),
            env=self._child_env(),
            cwd=self.data_dir,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
        if done.returncode != 0:
            raise StartupError(
                f"initdb failed for {self.pgdata} (exit code {done.returncode}):\n"
                f"{(done.stdout + done.stderr).strip()}"
            )
        (self.data_dir / ".initdb-done").write_text(f"{binaries.source} {binaries.version}\n")

    def _socket_dir(self, run_as: RunAs | None) -> Path:
        """``data_dir/run``, or a short folder in /tmp when that path is too long."""
        socket_dir = self.data_dir / "run"
        if len(str(socket_dir / f".s.PGSQL.{self.port}")) > _SOCKET_PATH_MAX:
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
            socket_dir = Path(tempfile.gettempdir()) / f"devstack-pg-{digest}"
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        socket_dir.chmod(0o700)
        if run_as is not None:
            give_to(socket_dir, run_as)
        return socket_dir

    def _server_settings(self, binaries: PgBinaries, socket_dir: Path) -> dict[str, str]:
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(socket_dir),
            "unix_socket_permissions": "0700",
        }
        if binaries.has_library("pg_stat_statements"):
            settings["shared_preload_libraries"] = "pg_stat_statements"
        settings.update(self._settings)
        return settings

    def _launch(
        self, binaries: PgBinaries, run_as: RunAs | None, settings: Mapping[str, str]
    ) -> None:
        command = [str(binaries.exe("postgres")), "-D", str(self.pgdata)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        out = self.log_path.open("ab")
        with out:
            out.write(f"\n--- starting PostgreSQL {binaries.version} at {time.ctime()}\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=death_signal_preexec(signal.SIGINT),
                env=self._child_env(),
                cwd=self.data_dir,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
            )

    def _status(self) -> str | None:
        """The status line of ``postmaster.pid`` ("ready" once it accepts connections)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 8 or self._proc is None or lines[0].strip() != str(self._proc.pid):
            return None
        return lines[7].strip()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            proc = self._proc
            if proc is None:
                raise StartupError("PostgreSQL was not started")
            code = proc.poll()
            if code is not None:
                self._proc = None
                raise StartupError(
                    f"PostgreSQL exited with code {code} during start-up; last lines of "
                    f"{self.log_path}:\n{tail(self.log_path, 30).rstrip()}"
                )
            if self._status() == "ready":
                return
            if time.monotonic() >= deadline:
                details = tail(self.log_path, 30).rstrip()
                self.stop()
                raise StartupError(
                    f"PostgreSQL was not ready on port {self.port} within {timeout:.0f} s; "
                    f"last lines of {self.log_path}:\n{details}"
                )
            time.sleep(0.05)
