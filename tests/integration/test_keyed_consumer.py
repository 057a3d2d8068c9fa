"""shared.consumer against a real broker: concurrency across keys, order within a key,
commits only up to finished work, dead-lettering of a record that keeps failing."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.consumer import ConsumerOptions, KeyedConcurrentConsumer
from shared.contracts.topics import TopicSpec
from shared.messaging import ensure_topics

pytestmark = pytest.mark.integration


async def _topic(kafka: str, partitions: int = 1) -> str:
    name = f"it-keyed-{uuid.uuid4().hex[:10]}"
    await ensure_topics(kafka, (TopicSpec(name, partitions), TopicSpec(f"{name}.dlq", 1)))
    return name


async def _produce(kafka: str, topic: str, items: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value.encode(), key=key.encode())
    finally:
        await producer.stop()


async def _committed(kafka: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group)
    await consumer.start()
    try:
        committed: int | None = await consumer.committed(TopicPartition(topic, 0))
        return committed
    finally:
        await consumer.stop()


async def _until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


async def test_a_slow_key_does_not_hold_back_others_and_order_is_kept(kafka: str) -> None:
    topic = await _topic(kafka)  # one partition: every key shares it
    items = [("slow", f"slow-{i}") for i in range(3)] + [(f"k{i}", f"fast-{i}") for i in range(20)]
    await _produce(kafka, topic, items)
    done: list[str] = []

    async def handler(record: ConsumerRecord) -> None:
        value = record.value.decode()
        if value == "slow-0":
            await asyncio.sleep(1.5)
        done.append(value)

    consumer = KeyedConcurrentConsumer(
        bootstrap_servers=kafka, topic=topic, group_id=f"g-{topic}", handler=handler
    )
    await consumer.start()
    try:
        await _until(lambda: len(done) == len(items))
    finally:
        await consumer.stop()

    fast = [v for v in done if v.startswith("fast")]
    assert done.index("slow-0") > max(done.index(v) for v in fast)  # nobody waited for it
    assert [v for v in done if v.startswith("slow")] == ["slow-0", "slow-1", "slow-2"]
    assert await _committed(kafka, f"g-{topic}", topic) == len(items)


async def test_commits_stop_at_unfinished_work_and_a_restart_redelivers_it(kafka: str) -> None:
    topic = await _topic(kafka)
    await _produce(kafka, topic, [(f"k{i}", f"v{i}") for i in range(6)])
    group = f"g-{topic}"
    release = asyncio.Event()
    seen: list[str] = []

    async def blocking(record: ConsumerRecord) -> None:
        seen.append(record.value.decode())
        if record.value == b"v2":
            await release.wait()

    first = KeyedConcurrentConsumer(
        bootstrap_servers=kafka,
        topic=topic,
        group_id=group,
        handler=blocking,
        options=ConsumerOptions(shutdown_timeout_s=0.5),
    )
    await first.start()
    await _until(lambda: len(seen) == 6)
    await asyncio.sleep(0.3)
    await first.stop()  # v2 never finished: its offset must not be committed
    assert await _committed(kafka, group, topic) == 2

    redelivered: list[str] = []

    async def recording(record: ConsumerRecord) -> None:
        redelivered.append(record.value.decode())

    second = KeyedConcurrentConsumer(
        bootstrap_servers=kafka, topic=topic, group_id=group, handler=recording
    )
    await second.start()
    try:
        await _until(lambda: len(redelivered) == 4)
    finally:
        await second.stop()
        release.set()
    assert redelivered == ["v2", "v3", "v4", "v5"]  # at least once, never skipped
    assert await _committed(kafka, group, topic) == 6


async def test_a_record_that_keeps_failing_is_dead_lettered_and_does_not_block(kafka: str) -> None:
    topic = await _topic(kafka)
    await _produce(kafka, topic, [("a", "poison"), ("a", "after")])
    handled: list[str] = []

    async def handler(record: ConsumerRecord) -> None:
        if record.value == b"poison":
            raise RuntimeError("cannot handle this")
        handled.append(record.value.decode())

    consumer = KeyedConcurrentConsumer(
        bootstrap_servers=kafka,
        topic=topic,
        group_id=f"g-{topic}",
        handler=handler,
        options=ConsumerOptions(max_attempts=3, first_backoff_s=0.01),
    )
    await consumer.start()
    try:
        await _until(lambda: handled == ["after"])
    finally:
        await consumer.stop()

    dlq = AIOKafkaConsumer(
        f"{topic}.dlq", bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest"
    )
    await dlq.start()
    try:
        record = await asyncio.wait_for(dlq.getone(), 10)
    finally:
        await dlq.stop()
    assert record.value == b"poison"
    assert ("dlq-error", b"RuntimeError") in list(record.headers)
