"""The outbox unit on a real PostgreSQL and broker: rows and events commit together, a
clean exit publishes what was staged (and marks it), an exception publishes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, func, select

from shared.contracts.config_events import SystemSettingsChanged
from shared.contracts.messages import Channel, conversation_key
from shared.contracts.topics import TopicSpec
from shared.db import make_engine, make_sessionmaker
from shared.messaging import ensure_topics, make_broker
from shared.outbox import Outbox, outbox_table


async def _records(kafka: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[bytes] = []
    try:
        for _ in range(20):
            for records in (await consumer.getmany(timeout_ms=250)).values():
                found.extend(record.value for record in records)
            if len(found) >= expected:
                await asyncio.sleep(0.3)  # and nothing more arrives
                for records in (await consumer.getmany(timeout_ms=250)).values():
                    found.extend(record.value for record in records)
                break
    finally:
        await consumer.stop()
    return found


@pytest.mark.parametrize("fails", [False, True])
async def test_a_unit_publishes_exactly_what_it_committed(
    kafka: str, bootstrapped: dict[str, str], fails: bool
) -> None:
    topic = f"it-outbox-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, (TopicSpec(topic, 2),))
    table = outbox_table(f"it_outbox_{uuid.uuid4().hex[:8]}", MetaData())
    engine = make_engine(bootstrapped["DATABASE_URL"])
    broker = make_broker(kafka, client_id="it-outbox")
    await broker.connect()
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.create)
        outbox = Outbox(table, make_sessionmaker(engine), broker)
        events = [SystemSettingsChanged(fallback_enabled=bool(i % 2)) for i in range(5)]
        key = conversation_key(Channel.WHATSAPP, "1001", "+33600000001")
        with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
            async with outbox.unit() as unit:
                for event in events:
                    unit.stage(topic, key, event)
                if fails:
                    raise RuntimeError("the write path failed after staging")
        async with engine.connect() as connection:
            stored = (await connection.execute(select(func.count()).select_from(table))).scalar()
            unpublished = (
                await connection.execute(
                    select(func.count()).select_from(table).where(table.c.published_at.is_(None))
                )
            ).scalar()
        published = await _records(kafka, topic, 0 if fails else len(events))
        if fails:
            assert (stored, published) == (0, [])
        else:
            assert stored == len(events) and unpublished == 0  # marked at once: no relay
            assert published == [e.model_dump_json().encode() for e in events]  # in order
    finally:
        await broker.stop()
        await engine.dispose()
