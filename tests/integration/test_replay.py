"""shared.replay against a real broker and database: the log is read to the end offsets
taken at the start, in order per partition, without a consumer group; the shadow compare
names what differs; a swap makes the live table the rebuilt one."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import BigInteger, Column, Identity, MetaData, String, Table, insert, select

from shared.contracts.topics import TopicSpec
from shared.db import make_engine
from shared.messaging import ensure_topics
from shared.replay.log import read_log
from shared.replay.shadow import ReadModel, Shadow

pytestmark = pytest.mark.integration


async def test_the_log_is_read_to_the_offsets_taken_at_start_in_order_without_a_group(
    kafka: str,
) -> None:
    topic = f"it-replay-{uuid.uuid4().hex[:10]}"
    await ensure_topics(kafka, (TopicSpec(topic, 3),))
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for n in range(30):
            await producer.send_and_wait(topic, str(n).encode(), key=f"k{n % 5}".encode())
        seen: list[ConsumerRecord] = []

        async def apply(record: ConsumerRecord) -> bool:
            if not seen:  # published after the start: left for the live consumers
                for n in range(30, 35):
                    await producer.send_and_wait(topic, str(n).encode(), key=b"late")
            seen.append(record)
            return int(record.value) % 2 == 0

        [read] = await read_log(kafka, [topic], apply)
    finally:
        await producer.stop()

    assert sorted(int(r.value) for r in seen) == list(range(30))
    for partition in {r.partition for r in seen}:
        offsets = [r.offset for r in seen if r.partition == partition]
        assert offsets == sorted(offsets)
    assert (read.partitions, read.records, read.skipped, read.deleted) == (3, 30, 15, 0)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        groups = await admin.list_consumer_groups()
    finally:
        await admin.close()
    assert not [g for g in groups if "replay" in str(g)]


async def test_compare_names_what_differs_and_swap_makes_live_the_rebuild(
    database_url: str,
) -> None:
    name = f"it_replay_{uuid.uuid4().hex[:10]}"
    table = Table(
        name,
        MetaData(),
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("key", String(16), nullable=False, unique=True),
        Column("value", String(16), nullable=False),
    )
    model = ReadModel(table, key=("key",), ignored={"id": "insertion order"})
    engine = make_engine(database_url, pool_size=2)
    shadow = Shadow(engine, f"replay_{name}", [model])
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.create)
            await connection.execute(
                insert(table), [{"key": k, "value": "v"} for k in ("a", "b", "stale")]
            )
        await shadow.create()
        async with shadow.engine.begin() as connection:  # the same Table, in the shadow schema
            await connection.execute(
                insert(table),
                [
                    {"key": "a", "value": "v"},
                    {"key": "b", "value": "new"},
                    {"key": "c", "value": "v"},
                ],
            )

        diff = await shadow.compare(model)
        assert (diff.only_live, diff.only_rebuilt, diff.changed) == (1, 1, 1)
        assert (diff.live_rows, diff.rebuilt_rows) == (3, 3)
        assert diff.live_checksum != diff.rebuilt_checksum
        assert diff.samples == [
            "changed: key=b (value)",
            "only in rebuilt: key=c",
            "only in live: key=stale",
        ]

        await shadow.swap([model])

        after = await shadow.compare(model)
        assert after.identical and after.live_checksum == after.rebuilt_checksum
        async with engine.begin() as connection:  # the live sequence still numbers new rows
            await connection.execute(insert(table).values(key="d", value="v"))
            rows = (await connection.execute(select(table.c.key, table.c.value))).all()
        assert sorted(rows) == [("a", "v"), ("b", "new"), ("c", "v"), ("d", "v")]
    finally:
        await shadow.drop()
        async with engine.begin() as connection:
            await connection.run_sync(table.drop)
        await engine.dispose()
