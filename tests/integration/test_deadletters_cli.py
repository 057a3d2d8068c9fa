"""The dead-letter command on a real broker: a parked record is listed, shown with its
reason, re-published to its source topic once, and `--all` never sends it twice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.consumer import ConsumerOptions, KeyedBatchConsumer, Received
from shared.contracts.topics import TopicSpec
from shared.messaging import ensure_topics
from tests.integration.test_keyed_consumer import _produce, _until

pytestmark = pytest.mark.integration


def _cli(kafka: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "shared.deadletters", "--bootstrap-servers", kafka, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def _values(kafka: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        for _ in range(6):
            for records in (await consumer.getmany(timeout_ms=300)).values():
                values.extend(r.value for r in records)
    finally:
        await consumer.stop()
    return values


def _parse(record: ConsumerRecord) -> str:
    if record.value.startswith(b"{"):
        raise ValueError("json where text was expected")
    text: str = record.value.decode()
    return text


async def test_list_show_and_republish_once(kafka: str) -> None:
    topic = f"it-dlq-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, (TopicSpec(topic, 1), TopicSpec(f"{topic}.dlq", 1)))
    await _produce(kafka, topic, [("k", '{"broken": true}'), ("k", "fine")])
    handled: list[str] = []

    async def handler(batch: Sequence[Received[str]]) -> None:
        handled.extend(item.event for item in batch)

    consumer = KeyedBatchConsumer(
        bootstrap_servers=kafka,
        topics=[topic],
        group_id=f"g-{topic}",
        parse=_parse,
        handler=handler,
        options=ConsumerOptions(),
    )
    await consumer.start()
    try:
        await _until(lambda: handled == ["fine"])
    finally:
        await consumer.stop()

    listing = await asyncio.to_thread(_cli, kafka, "list", f"{topic}.dlq")
    assert f"{topic}/0/0" in listing and "unparseable: ValueError" in listing
    shown = await asyncio.to_thread(_cli, kafka, "show", f"{topic}.dlq", "0")
    assert '{"broken": true}' in shown and f"g-{topic}" in shown
    assert "re-published 1" in await asyncio.to_thread(
        _cli, kafka, "republish", f"{topic}.dlq", "--all"
    )
    assert "re-published 0" in await asyncio.to_thread(
        _cli, kafka, "republish", f"{topic}.dlq", "--all"
    )
    assert await _values(kafka, topic) == [b'{"broken": true}', b"fine", b'{"broken": true}']
