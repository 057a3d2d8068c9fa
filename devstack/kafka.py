"""A single-node Apache Kafka broker (KRaft, broker+controller) run as a child process."""

from __future__ import annotations

import base64
import logging
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from devstack.errors import StartupError
from devstack.kafka_cds import CdsArchive
from devstack.kafka_config import kafka_properties
from devstack.kafka_jars import KAFKA_VERSION, ensure_kafka_jars, kafka_libs_dir
from devstack.kafka_probe import answers_metadata
from devstack.paths import default_cache_dir, kafka_infra_dir
from devstack.ports import LOOPBACK, accepts_connections, free_port
from devstack.prereq import require_java
from devstack.procs import ServerProcess, death_signal_preexec, reap_leftovers, stop_popen, tail

__all__ = ["KAFKA_VERSION", "KafkaServer", "ensure_kafka_jars", "kafka_libs_dir"]

log = logging.getLogger("devstack.kafka")

# Small heap (2 cores, four Python services beside it) and start-up over peak speed:
# measured on 2 cores, C1-only + serial GC start ~1 s faster than the JDK defaults, and a
# class-data-sharing archive (see kafka_cds) saves another ~1.7 s.
JVM_FLAGS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, url-safe base64 without padding (22 chars)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):  # Kafka avoids ids that look like an option
            return cluster_id


class KafkaServer(ServerProcess):
    """Apache Kafka in KRaft mode, one node, listening on 127.0.0.1.

    ``data_dir`` keeps everything: ``server.properties``, the log segments and metadata
    (``data/``) and the broker's own logs (``logs/server.log``, ``logs/kafka.out``).
    Data survive ``stop()``/``start()`` and an unclean stop (stale lock files are fine: the
    OS drops the locks with the process; a broker left running by an earlier crash of its
    parent is stopped by ``start()``).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        controller_port: int | None = None,
        *,
        libs_dir: Path | None = None,
        extra_properties: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._fixed_controller_port = controller_port
        self.controller_port: int | None = controller_port
        self._libs_dir = libs_dir
        self._extra_properties = dict(extra_properties or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._cds = CdsArchive()

    # ------------------------------------------------------------------ properties
    @property
    def bootstrap_servers(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def properties_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        """Kafka's data (``log.dirs``; "log" in Kafka's sense: the partitions)."""
        return self.data_dir / "data"

    @property
    def logs_path(self) -> Path:
        """The broker's own log files."""
        return self.data_dir / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs_path / "server.log"

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 90) -> None:
        """Start the broker and return once it answers a metadata request.

        Raises ``PrerequisiteMissing`` without Java (or Maven on the first run), and
        ``StartupError`` with the tail of the broker log when it exits or times out.
        """
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the broker process without waiting for it (see ``wait_ready``)."""
        if self.is_running():
            return
        java = require_java()
        libs = self._libs_dir or ensure_kafka_jars(default_cache_dir())
        self.reap_stale()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_path.mkdir(exist_ok=True)
        if self._fixed_controller_port is None:
            self.controller_port = free_port()
        self._write_properties()
        cds = self._cds.flags(java, libs)
        base = [str(java), *JVM_FLAGS, *self._log_flags(), "-cp", f"{libs}/*"]
        if not (self.log_dir / "meta.properties").exists():
            self._format_storage([*base, *cds])
        if self._cds.missing:
            cds = self._cds.dump_flags()
        out = (self.logs_path / "kafka.out").open("ab")
        with out:
            out.write(f"\n--- starting Kafka {KAFKA_VERSION} at {time.ctime()}\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                [*base, *cds, "kafka.Kafka", str(self.properties_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                preexec_fn=death_signal_preexec(signal.SIGTERM),
            )
        log.debug("Kafka started, pid %d, %s", self._proc.pid, self.bootstrap_servers)

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until the broker answers a metadata request; on failure stop it and raise."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self._proc
            if proc is None:
                raise StartupError("Kafka was not started")
            code = proc.poll()
            if code is not None:
                self._proc = None
                self._cds.finish(clean_exit=False)
                raise StartupError(
                    f"Kafka exited with code {code} during start-up.\n{self._log_tails()}"
                )
            if accepts_connections(self.port) and answers_metadata(self.bootstrap_servers):
                return
            if time.monotonic() >= deadline:
                details = self._log_tails()
                self.stop()
                raise StartupError(
                    f"Kafka did not answer on {self.bootstrap_servers} within {timeout:.0f} s."
                    f"\n{details}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the broker's process group, wait up to ``timeout`` s, then SIGKILL it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        code = stop_popen(proc, sig=signal.SIGTERM, timeout=timeout)
        self._cds.finish(clean_exit=code in (0, 143, -signal.SIGTERM))

    def kill(self) -> None:
        """SIGKILL the broker at once (to simulate a crash)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_popen(proc, sig=signal.SIGKILL, timeout=5)
            self._cds.finish(clean_exit=False)

    def reap_stale(self) -> list[int]:
        """Stop a broker that an earlier run left behind on this data dir; return its pids."""
        marker = str(self.properties_path)
        return reap_leftovers(
            f"a Kafka broker on {self.data_dir}",
            lambda cmd: "kafka.Kafka" in cmd and marker in cmd,
            self.pid,
            signal.SIGTERM,
            timeout=15,
        )

    # ------------------------------------------------------------------ internals
    def _write_properties(self) -> None:
        lines = ["# Written by devstack/kafka.py at each start; edits are overwritten."]
        lines += [
            f"{key}={value}"
            for key, value in kafka_properties(
                self.port, self.controller_port, self.log_dir, self._extra_properties
            ).items()
        ]
        self.properties_path.write_text("\n".join(lines) + "\n")

    def _log_flags(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={kafka_infra_dir() / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.logs_path}",
        ]

    def _format_storage(self, base: list[str]) -> None:
        """``kafka-storage.sh format``: once, when ``meta.properties`` is absent."""
        if self.log_dir.exists():  # a format interrupted half-way: nothing to keep
            for child in self.log_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        command = [
            *base,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            _new_cluster_id(),
            "--config",
            str(self.properties_path),
        ]
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.data_dir,
            preexec_fn=death_signal_preexec(),
        )
        if done.returncode != 0 or not (self.log_dir / "meta.properties").exists():
            output = (done.stdout + done.stderr).strip()
            raise StartupError(
                f"formatting the Kafka storage in {self.log_dir} failed "
                f"(exit code {done.returncode}):\n{output}"
            )

    def _log_tails(self) -> str:
        parts = []
        for path, lines in ((self.server_log, 30), (self.logs_path / "kafka.out", 15)):
            text = tail(path, lines).rstrip()
            if text:
                parts.append(f"--- last lines of {path}:\n{text}")
        return "\n".join(parts) or f"(no log output in {self.logs_path})"
