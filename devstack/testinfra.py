"""Kafka and PostgreSQL for test fixtures, from wherever they can come.

Order, for each of the two:
1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` set: use it, start nothing.
2. a Docker engine answers (``DEVSTACK_USE_DOCKER=0`` skips this): testcontainers.
3. else local processes (``KafkaServer`` / ``PostgresServer``) in a temporary folder on
   free ports; the Kafka jars come from the shared download cache.

Usage in a conftest::

    @pytest.fixture(scope="session")
    def kafka_bootstrap() -> Iterator[str]:
        with provide_kafka() as servers:
            yield servers
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devstack.kafka import KafkaServer
from devstack.ports import free_port
from devstack.postgres import PostgresServer

log = logging.getLogger("devstack.testinfra")

KAFKA_IMAGE = os.environ.get("DEVSTACK_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
POSTGRES_IMAGE = os.environ.get("DEVSTACK_POSTGRES_IMAGE", "postgres:18")

# Durability off for throw-away test databases: noticeably faster DDL and commits.
TEST_POSTGRES_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def docker_available() -> bool:
    """True when a Docker engine answers a ping. Decided before building any container,
    since building one already fails when no engine answers."""
    if os.environ.get("DEVSTACK_USE_DOCKER", "").lower() in {"0", "false", "no"}:
        return False
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no client library, no socket, no permission, engine down...
        return False


def _testcontainers_class(module: str, name: str) -> Any:
    """``testcontainers.community.<module>`` (newer) or ``testcontainers.<module>``."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for home in (f"testcontainers.community.{module}", f"testcontainers.{module}"):
            try:
                return getattr(importlib.import_module(home), name)
            except (ImportError, AttributeError):
                continue
    raise ImportError(f"testcontainers has no {name}")


@contextlib.contextmanager
def _kafka_container() -> Iterator[str]:
    kafka_container = _testcontainers_class("kafka", "KafkaContainer")
    container = (
        kafka_container(KAFKA_IMAGE)
        .with_kraft()
        .with_env("KAFKA_NUM_PARTITIONS", "8")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
    )
    with container:
        yield str(container.get_bootstrap_server())


@contextlib.contextmanager
def _postgres_container() -> Iterator[str]:
    postgres_container = _testcontainers_class("postgres", "PostgresContainer")
    container = postgres_container(
        POSTGRES_IMAGE,
        username="app",
        password="app",  # noqa: S106 (a throw-away test database)
        dbname="app",
        driver="asyncpg",
    )
    with container:
        yield str(container.get_connection_url())


@contextlib.contextmanager
def _local_kafka() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="devstack-kafka-") as tmp:
        server = KafkaServer(Path(tmp), free_port())
        try:
            server.start()
            yield server.bootstrap_servers
        finally:
            server.stop()


@contextlib.contextmanager
def _local_postgres() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="devstack-pg-") as tmp:
        server = PostgresServer(Path(tmp), free_port(), settings=TEST_POSTGRES_SETTINGS)
        try:
            server.start()
            yield server.url
        finally:
            server.stop()


def provide_kafka() -> contextlib.AbstractContextManager[str]:
    """Yield Kafka bootstrap servers ("host:port") for the duration of the block."""
    return _provide("KAFKA_BOOTSTRAP_SERVERS", "Kafka", KAFKA_IMAGE, _kafka_container, _local_kafka)


def provide_postgres() -> contextlib.AbstractContextManager[str]:
    """Yield a ``postgresql+asyncpg://`` URL whose role can create tables and roles."""
    return _provide(
        "DATABASE_URL", "PostgreSQL", POSTGRES_IMAGE, _postgres_container, _local_postgres
    )


@contextlib.contextmanager
def _provide(
    variable: str,
    name: str,
    image: str,
    container: Callable[[], contextlib.AbstractContextManager[str]],
    local: Callable[[], contextlib.AbstractContextManager[str]],
) -> Iterator[str]:
    """The configured address, else a container, else a local process (module docstring)."""
    configured = os.environ.get(variable)
    if configured:
        yield configured
        return
    if docker_available():
        log.info("%s for tests: testcontainers (%s)", name, image)
        source = container
    else:
        log.info("%s for tests: local process", name)
        source = local
    with source() as address:
        yield address
