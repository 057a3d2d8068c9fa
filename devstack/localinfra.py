"""The Kafka broker and PostgreSQL server ``make up`` starts (each unless configured)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from devstack.kafka import KafkaServer
from devstack.postgres import PostgresServer
from devstack.settings import DevSettings

log = logging.getLogger("devstack")

STATE_FILE = "devstack-state.json"


class LocalInfra:
    """Starts what is needed (Kafka first, PostgreSQL while the JVM boots), stops it all."""

    def __init__(self, settings: DevSettings) -> None:
        self.settings = settings
        self.kafka: KafkaServer | None = None
        self.postgres: PostgresServer | None = None
        if settings.starts_kafka:
            self.kafka = KafkaServer(settings.data_dir / "kafka", settings.kafka_port)
        if settings.starts_postgres:
            self.postgres = PostgresServer(settings.data_dir / "postgres", settings.postgres_port)

    @property
    def kafka_bootstrap_servers(self) -> str:
        if self.kafka is not None:
            return self.kafka.bootstrap_servers
        assert self.settings.kafka_bootstrap_servers is not None
        return self.settings.kafka_bootstrap_servers

    @property
    def database_url(self) -> str:
        if self.postgres is not None:
            return self.postgres.url
        assert self.settings.database_url is not None
        return self.settings.database_url

    @staticmethod
    def reap_stale_in(data_dir: Path) -> None:
        """Stop a broker or database that an earlier, killed run left on this data dir."""
        KafkaServer(data_dir / "kafka", 0).reap_stale()
        PostgresServer(data_dir / "postgres", 0).reap_stale()

    def start(self) -> None:
        if self.kafka is not None:
            started = time.monotonic()
            self.kafka.launch()  # the JVM boots while PostgreSQL starts
            log.info(
                "Kafka starting on %s (logs: %s)",
                self.kafka.bootstrap_servers,
                self.kafka.server_log,
            )
        else:
            log.info("Kafka: using KAFKA_BOOTSTRAP_SERVERS=%s", self.kafka_bootstrap_servers)
        if self.postgres is not None:
            pg_started = time.monotonic()
            self.postgres.start()
            log.info(
                "PostgreSQL %s (%s) ready on 127.0.0.1:%d in %.1f s (log: %s)",
                self.postgres.binaries.version,
                self.postgres.binaries.source,
                self.postgres.port,
                time.monotonic() - pg_started,
                self.postgres.log_path,
            )
        else:
            log.info("PostgreSQL: using DATABASE_URL")
        if self.kafka is not None:
            self.kafka.wait_ready()
            log.info("Kafka ready in %.1f s", time.monotonic() - started)
        self._write_state()

    def stop(self) -> None:
        """Stop Kafka, then PostgreSQL; errors in one do not keep the other running."""
        errors: list[BaseException] = []
        for server in (self.kafka, self.postgres):
            if server is None:
                continue
            try:
                server.stop()
            except Exception as exc:
                errors.append(exc)
        self._state_path().unlink(missing_ok=True)
        if errors:
            raise errors[0]

    def running_names(self) -> list[str]:
        """ "Kafka" and/or "PostgreSQL": the servers we started that still run."""
        servers = (("Kafka", self.kafka), ("PostgreSQL", self.postgres))
        return [name for name, server in servers if server is not None and server.is_running()]

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
        }

    def _state_path(self) -> Path:
        return self.settings.data_dir / STATE_FILE

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "kafka_pid": self.kafka.pid if self.kafka else None,
            "postgres_pid": self.postgres.pid if self.postgres else None,
            **self.env(),
        }
        self._state_path().write_text(json.dumps(state, indent=2) + "\n")

    def __enter__(self) -> LocalInfra:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def read_state(data_dir: Path) -> dict[str, object] | None:
    """What the running ``make up`` / ``devstack.infra start`` wrote, if any."""
    try:
        loaded = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
