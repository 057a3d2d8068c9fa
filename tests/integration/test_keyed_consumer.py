"""shared.consumer against a real broker: batches of ready records, order within a key,
concurrency across keys, commits only up to finished work, poison parked at once, retries
that hold no slot, a cap per tenant, and dead-lettering that spares batch neighbours."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.consumer import (
    BatchHandler,
    BatchResult,
    ConsumerOptions,
    KeyedBatchConsumer,
    Received,
    RetryLater,
    per_record,
)
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
        futures = [
            await producer.send(topic, value.encode(), key=key.encode()) for key, value in items
        ]
        await asyncio.gather(*futures)
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


async def _dead_letters(kafka: str, topic: str, count: int) -> list[ConsumerRecord]:
    dlq = AIOKafkaConsumer(
        f"{topic}.dlq", bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest"
    )
    await dlq.start()
    found: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + 15
        while len(found) < count and time.monotonic() < deadline:
            for records in (await dlq.getmany(timeout_ms=200)).values():
                found.extend(records)
    finally:
        await dlq.stop()
    return found


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def _text(record: ConsumerRecord) -> str:
    if record.value.startswith(b"!"):
        raise ValueError("not a valid event")
    value: str = record.value.decode()
    return value


def _consumer(
    kafka: str,
    topic: str,
    handler: BatchHandler[str],
    group: str | None = None,
    skip: Callable[[ConsumerRecord], bool] | None = None,
    **options: float | int | None,
) -> KeyedBatchConsumer[str]:
    return KeyedBatchConsumer(
        bootstrap_servers=kafka,
        topics=[topic],
        group_id=group or f"g-{topic}",
        parse=_text,
        handler=handler,
        options=ConsumerOptions(**options),  # type: ignore[arg-type]
        skip=skip,
    )


async def test_ready_records_arrive_in_batches_and_each_key_keeps_its_order(kafka: str) -> None:
    topic = await _topic(kafka, partitions=3)
    items = [(f"k{i % 10}", f"k{i % 10}-{i // 10}") for i in range(200)]
    await _produce(kafka, topic, items)
    batches: list[list[str]] = []

    async def handler(batch: Sequence[Received[str]]) -> None:
        assert len({item.key for item in batch}) == len(batch)  # one record per key at most
        batches.append([item.event for item in batch])
        await asyncio.sleep(0.01)

    consumer = _consumer(kafka, topic, handler)
    await consumer.start()
    try:
        await _until(lambda: sum(map(len, batches)) == len(items))
    finally:
        await consumer.stop()
    done = [value for batch in batches for value in batch]
    for key in {k for k, _ in items}:
        mine = [v for v in done if v.startswith(f"{key}-")]
        assert mine == [f"{key}-{n}" for n in range(20)]
    assert max(map(len, batches)) > 1  # batches, not one record at a time


async def test_without_key_order_one_keys_records_share_a_batch_and_are_committed(
    kafka: str,
) -> None:
    """`ordered_by_key=False` (an order-insensitive read model): a key's records are not
    held one behind another, and every finished offset is committed."""
    topic = await _topic(kafka)
    items = [("same", f"v{n}") for n in range(30)]
    await _produce(kafka, topic, items)
    batches: list[list[str]] = []

    async def handler(batch: Sequence[Received[str]]) -> None:
        batches.append([item.event for item in batch])

    group = f"g-{topic}"
    consumer = _consumer(kafka, topic, handler, group=group, ordered_by_key=False)
    await consumer.start()
    try:
        await _until(lambda: sum(map(len, batches)) == len(items))
    finally:
        await consumer.stop()
    assert sorted(v for batch in batches for v in batch) == sorted(v for _, v in items)
    assert max(map(len, batches)) > 1  # one key, yet several records per batch
    assert await _committed(kafka, group, topic) == len(items)


async def test_a_slow_key_does_not_hold_back_others_and_queued_records_take_no_slot(
    kafka: str,
) -> None:
    topic = await _topic(kafka)  # one partition: every key shares it
    items = [("slow", f"slow-{i}") for i in range(30)] + [(f"k{i}", f"fast-{i}") for i in range(20)]
    await _produce(kafka, topic, items)
    done: list[str] = []
    release = asyncio.Event()

    async def handler(item: Received[str]) -> None:
        if item.event == "slow-0":
            await release.wait()
        done.append(item.event)

    # Two slots: the 29 records queued behind slow-0 must not take the other one.
    consumer = _consumer(kafka, topic, per_record(handler), max_in_flight=2, max_batch=1)
    await consumer.start()
    try:
        await _until(lambda: len(done) == 20)
        assert all(v.startswith("fast") for v in done)
        release.set()
        await _until(lambda: len(done) == len(items))
    finally:
        await consumer.stop()
    assert [v for v in done if v.startswith("slow")] == [f"slow-{i}" for i in range(30)]
    assert await _committed(kafka, f"g-{topic}", topic) == len(items)


async def test_commits_stop_at_unfinished_work_and_a_restart_redelivers_it(kafka: str) -> None:
    topic = await _topic(kafka)
    await _produce(kafka, topic, [(f"k{i}", f"v{i}") for i in range(6)])
    group = f"g-{topic}"
    release = asyncio.Event()
    seen: list[str] = []

    async def blocking(item: Received[str]) -> None:
        seen.append(item.event)
        if item.event == "v2":
            await release.wait()

    first = _consumer(
        kafka, topic, per_record(blocking), group=group, max_batch=1, shutdown_timeout_s=0.5
    )
    await first.start()
    await _until(lambda: len(seen) == 6)
    await asyncio.sleep(0.3)
    await first.stop()  # v2 never finished: its offset must not be committed
    assert await _committed(kafka, group, topic) == 2

    redelivered: list[str] = []

    async def recording(batch: Sequence[Received[str]]) -> None:
        redelivered.extend(item.event for item in batch)

    second = _consumer(kafka, topic, recording, group=group)
    await second.start()
    try:
        await _until(lambda: len(redelivered) == 4)
    finally:
        await second.stop()
        release.set()
    assert redelivered == ["v2", "v3", "v4", "v5"]  # at least once, never skipped
    assert await _committed(kafka, group, topic) == 6


async def test_skipped_records_are_committed_in_order_never_past_unfinished_work(
    kafka: str,
) -> None:
    topic = await _topic(kafka)
    values = ["v0", "skip-1", "v2", "skip-3", "v4"]
    await _produce(kafka, topic, [(f"k{i}", v) for i, v in enumerate(values)])
    group, release = f"g-{topic}", asyncio.Event()
    seen: list[str] = []

    def skipped(record: ConsumerRecord) -> bool:
        return bool(record.value.startswith(b"skip"))

    async def blocking(item: Received[str]) -> None:
        seen.append(item.event)
        if item.event == "v2":
            await release.wait()

    first = _consumer(
        kafka, topic, per_record(blocking), group, skipped, max_batch=1, shutdown_timeout_s=0.5
    )
    await first.start()
    await _until(lambda: len(seen) == 3)
    await asyncio.sleep(0.3)
    await first.stop()
    assert seen == ["v0", "v2", "v4"]  # the skipped ones never reach the handler
    assert await _committed(kafka, group, topic) == 2  # not past v2, skipped or not

    redelivered: list[str] = []

    async def recording(batch: Sequence[Received[str]]) -> None:
        redelivered.extend(item.event for item in batch)

    second = _consumer(kafka, topic, recording, group, skipped)
    await second.start()
    try:
        await _until(lambda: len(redelivered) == 2)
        await _until(lambda: second.in_flight == 0)
    finally:
        await second.stop()
        release.set()
    assert redelivered == ["v2", "v4"]
    assert await _committed(kafka, group, topic) == 5  # the skipped tail is committed too


async def test_poison_is_parked_at_once_and_its_batch_neighbours_succeed(kafka: str) -> None:
    topic = await _topic(kafka)
    await _produce(
        kafka,
        topic,
        [("a", "!garbage"), ("a", "a-after"), ("b", "fails"), ("b", "b-after")]
        + [(f"n{i}", f"n{i}") for i in range(8)],
    )
    handled: list[str] = []
    calls: list[int] = []

    async def handler(batch: Sequence[Received[str]]) -> BatchResult:
        calls.append(len(batch))
        result = BatchResult()
        for item in batch:
            if item.event == "fails":
                raise RuntimeError("cannot handle this")  # fails the whole batch call
        handled.extend(item.event for item in batch)
        return result

    consumer = _consumer(kafka, topic, handler, max_attempts=3, first_backoff_s=0.01)
    await consumer.start()
    try:
        await _until(lambda: {"a-after", "b-after"} <= set(handled) and len(handled) == 10)
    finally:
        await consumer.stop()
    assert sorted(handled) == sorted(["a-after", "b-after"] + [f"n{i}" for i in range(8)])
    parked = await _dead_letters(kafka, topic, 2)
    by_value = {record.value: dict(record.headers) for record in parked}
    assert set(by_value) == {b"!garbage", b"fails"}
    assert by_value[b"!garbage"]["dlq-reason"].startswith(b"unparseable: ValueError")
    assert by_value[b"fails"]["dlq-reason"].startswith(b"failed 3 times: RuntimeError")
    assert by_value[b"fails"]["dlq-group"] == f"g-{topic}".encode()
    assert await _committed(kafka, f"g-{topic}", topic) == 12


async def test_a_record_the_handler_calls_unprocessable_is_parked_without_retries(
    kafka: str,
) -> None:
    topic = await _topic(kafka)
    await _produce(kafka, topic, [("a", "bad"), ("a", "good")])
    attempts: list[str] = []

    async def handler(batch: Sequence[Received[str]]) -> BatchResult:
        result = BatchResult()
        for item in batch:
            attempts.append(item.event)
            if item.event == "bad":
                result.park(item, "schema: wrong tenant")
        return result

    consumer = _consumer(kafka, topic, handler)
    await consumer.start()
    try:
        await _until(lambda: "good" in attempts)
    finally:
        await consumer.stop()
    assert attempts == ["bad", "good"]
    [parked] = await _dead_letters(kafka, topic, 1)
    assert dict(parked.headers)["dlq-reason"] == b"schema: wrong tenant"


async def test_a_retry_wait_holds_no_slot_and_keeps_its_key_in_order(kafka: str) -> None:
    topic = await _topic(kafka)
    await _produce(
        kafka, topic, [("a", "a-0"), ("a", "a-1")] + [(f"b{i}", f"b{i}") for i in range(30)]
    )
    done: list[str] = []
    first_try: dict[str, float] = {}

    async def handler(item: Received[str]) -> None:
        if item.event == "a-0" and item.delivery < 3:
            first_try.setdefault(item.event, time.monotonic())
            raise RetryLater("rate limited", after_s=0.5)
        done.append(item.event)

    # One slot: if the waits held it, the b records would all wait behind a-0.
    consumer = _consumer(kafka, topic, per_record(handler), max_in_flight=1, max_batch=1)
    await consumer.start()
    try:
        await _until(lambda: len(done) == 32)
    finally:
        await consumer.stop()
    assert done.index("a-0") < done.index("a-1")
    assert done.index("a-0") > 0  # others ran while it waited
    assert sum(v.startswith("b") for v in done[: done.index("a-0")]) >= 20


async def test_one_tenant_cannot_take_every_slot(kafka: str) -> None:
    topic = await _topic(kafka)
    slow = [(f"whatsapp:A:{i}", f"A{i}") for i in range(20)]
    fast = [(f"whatsapp:B:{i}", f"B{i}") for i in range(20)]
    await _produce(kafka, topic, slow + fast)
    done: list[str] = []
    release = asyncio.Event()

    async def handler(item: Received[str]) -> None:
        if item.event.startswith("A"):
            await release.wait()
        done.append(item.event)

    consumer = _consumer(
        kafka,
        topic,
        per_record(handler),
        max_in_flight=8,
        max_in_flight_per_group=4,
        max_batch=1,
    )
    await consumer.start()
    try:
        await _until(lambda: len(done) == 20)  # every B while A's first four hang
        assert all(v.startswith("B") for v in done)
        assert consumer.in_flight == 4
        release.set()
        await _until(lambda: len(done) == 40)
    finally:
        await consumer.stop()


async def test_caught_up_only_once_the_backlog_is_read_and_handled(kafka: str) -> None:
    topic = await _topic(kafka, partitions=2)
    items = [(f"k{i % 4}", f"k{i % 4}-{i}") for i in range(40)]
    await _produce(kafka, topic, items)
    handled: list[str] = []
    release = asyncio.Event()

    async def handler(item: Received[str]) -> None:
        if item.event == items[-1][1]:
            await release.wait()  # the backlog's last record is still being handled
        handled.append(item.event)

    consumer = _consumer(kafka, topic, per_record(handler))
    await consumer.start()
    try:
        await _until(lambda: len(handled) == len(items) - 1)
        await asyncio.sleep(0.5)
        assert not consumer.caught_up
        release.set()
        await _until(lambda: consumer.caught_up)
        assert len(handled) == len(items)
    finally:
        await consumer.stop()
