"""Kafka and PostgreSQL for one bench run: devstack's local servers in fresh temp dirs.

PostgreSQL is started through `PostgresServer` directly (not `provide_postgres`) so the run
also knows the server's Unix socket: pg_stat_statements is read and reset as the superuser
over that socket (trust auth), since the `app` role may not reset it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.children import run_bootstrap
from devstack.kafka import KafkaServer
from devstack.ports import free_port
from devstack.postgres import SUPERUSER, PostgresServer
from devstack.testinfra import TEST_POSTGRES_SETTINGS

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Infra:
    kafka: str
    database_url: str
    pg_port: int
    pg_socket_dir: str
    pg_pid: int | None
    kafka_pid: int | None

    @property
    def superuser(self) -> dict[str, str | int]:
        """asyncpg.connect(**this): the superuser over the server's Unix socket."""
        return {
            "host": self.pg_socket_dir,
            "port": self.pg_port,
            "user": SUPERUSER,
            "database": "app",
        }


def _socket_dir(server: PostgresServer) -> str:
    """Line 5 of postmaster.pid is the first Unix socket directory."""
    lines = (server.pgdata / "postmaster.pid").read_text().splitlines()
    return lines[4].strip()


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-kafka-") as kafka_dir,
        tempfile.TemporaryDirectory(prefix="bench-pg-") as pg_dir,
    ):
        kafka = KafkaServer(Path(kafka_dir), free_port())
        postgres = PostgresServer(Path(pg_dir), free_port(), settings=TEST_POSTGRES_SETTINGS)
        try:
            kafka.launch()  # the JVM starts while PostgreSQL initialises
            postgres.start()
            kafka.wait_ready()
            run_bootstrap(kafka.bootstrap_servers, postgres.url)
            yield Infra(
                kafka=kafka.bootstrap_servers,
                database_url=postgres.url,
                pg_port=postgres.port,
                pg_socket_dir=_socket_dir(postgres),
                pg_pid=postgres.pid,
                kafka_pid=kafka.pid,
            )
        finally:
            kafka.stop()
            postgres.stop()
