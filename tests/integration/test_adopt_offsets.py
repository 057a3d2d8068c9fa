"""The upgrade step that starts the gateway's one outcomes group where its two former
groups had got to, on a real broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.gateway.entrypoints.adopt_offsets import adopt
from shared.contracts.topics import TopicSpec
from shared.messaging import ensure_topics

pytestmark = pytest.mark.integration


async def _commit(kafka: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def _committed(kafka: str, group: str, tps: list[TopicPartition]) -> list[int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group)
    await consumer.start()
    try:
        return [await consumer.committed(tp) for tp in tps]
    finally:
        await consumer.stop()


async def test_the_new_group_starts_at_the_lower_former_offset(kafka: str) -> None:
    topic, run = f"it-adopt-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    await ensure_topics(kafka, (TopicSpec(topic, 3),))
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for partition in range(3):
            for _ in range(10):
                await producer.send_and_wait(topic, b"{}", partition=partition)
    finally:
        await producer.stop()
    p0, p1, p2 = (TopicPartition(topic, p) for p in range(3))
    recorder, sender, new = f"rec-{run}", f"send-{run}", f"new-{run}"
    await _commit(kafka, recorder, {p0: 8, p1: 3, p2: 5})
    await _commit(kafka, sender, {p0: 6, p1: 9})  # p2 never committed by this one

    adopted = await adopt(kafka, new, (recorder, sender), topic)

    assert adopted == {p0: 6, p1: 3}
    assert await _committed(kafka, new, [p0, p1, p2]) == [6, 3, None]
    assert await adopt(kafka, new, (recorder, sender), topic) == {}  # once only
