"""The local infrastructure of devstack: a real Kafka broker and a real PostgreSQL server,
started in a temporary folder, stopped cleanly and uncleanly, restarted with data kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.errors import PrerequisiteMissing
from devstack.kafka import KafkaServer
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.procs import ServerProcess
from devstack.testinfra import provide_kafka, provide_postgres

pytestmark = pytest.mark.integration


Server = TypeVar("Server", bound=ServerProcess)


def _running(server: Server) -> Iterator[Server]:
    try:
        server.start()
    except PrerequisiteMissing as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kafka_server(tmp_path: Path) -> Iterator[KafkaServer]:
    yield from _running(KafkaServer(tmp_path / "kafka", free_port()))


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[PostgresServer]:
    yield from _running(PostgresServer(tmp_path / "pg", free_port()))


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Every record of ``topic`` from the beginning (no consumer group: no rebalance wait)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records: list[tuple[bytes, bytes]] = []
        for _ in range(40):
            batches = await consumer.getmany(timeout_ms=250)
            for batch in batches.values():
                records += [(r.key, r.value) for r in batch]
            if len(records) >= expected:
                break
        return records
    finally:
        await consumer.stop()


async def test_kafka_round_trip_survives_clean_and_unclean_restarts(
    kafka_server: KafkaServer,
) -> None:
    topic = f"devstack-{uuid.uuid4().hex[:8]}"
    await _produce(kafka_server.bootstrap_servers, topic, b"k1", b"first")
    assert await _read_all(kafka_server.bootstrap_servers, topic, 1) == [(b"k1", b"first")]

    # Clean stop, restart on the same data dir and port: the record is still there.
    kafka_server.stop()
    assert not kafka_server.is_running()
    kafka_server.start()
    assert await _read_all(kafka_server.bootstrap_servers, topic, 1) == [(b"k1", b"first")]

    # Crash (SIGKILL, stale lock files left behind), restart on another port.
    await _produce(kafka_server.bootstrap_servers, topic, b"k1", b"second")
    kafka_server.kill()
    restarted = KafkaServer(kafka_server.data_dir, free_port())
    restarted.start()
    try:
        records = await _read_all(restarted.bootstrap_servers, topic, 2)
        assert records == [(b"k1", b"first"), (b"k1", b"second")]
    finally:
        restarted.stop()


async def test_postgres_select_and_data_kept_across_restarts(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url
    assert url.startswith("postgresql+asyncpg://app:app@127.0.0.1:")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
            await conn.execute(text("create table kept (value text)"))
            await conn.execute(text("insert into kept values ('before restart')"))
            # The app role may create roles (migrations create a restricted one).
            await conn.execute(text("create role devstack_probe nologin"))
    finally:
        await engine.dispose()

    postgres_server.stop()
    postgres_server.start()
    postgres_server.kill()  # a crash: recovery replays the WAL on the next start
    restarted = PostgresServer(postgres_server.data_dir, free_port())
    restarted.start()
    engine = create_async_engine(restarted.url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("select value from kept"))).scalars().all()
            assert rows == ["before restart"]
    finally:
        await engine.dispose()
        restarted.stop()


def test_configured_services_are_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p@db.example:5432/x")
    with provide_kafka() as servers, provide_postgres() as url:
        assert servers == "kafka.example:9092"
        assert url == "postgresql+asyncpg://u:p@db.example:5432/x"
