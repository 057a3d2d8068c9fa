"""Kafka reads for assertions: what a topic holds."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging import partitions_of


async def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap_servers, topic)]
        offsets = await consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in offsets.items()}
    finally:
        await consumer.stop()


async def read_topic(bootstrap_servers: str, topic: str) -> list[tuple[int, int, bytes]]:
    """Every record now in the topic as (partition, offset, value), in offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        numbers = await partitions_of(bootstrap_servers, topic)
        partitions = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[tuple[int, int, bytes]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, batch in batches.items():
                records += [(tp.partition, r.offset, r.value) for r in batch if r.offset < ends[tp]]
        return records
    finally:
        await consumer.stop()


async def lag(bootstrap_servers: str, groups: dict[str, str | tuple[str, ...]]) -> int:
    """Records the groups (group -> the topic or topics it reads) have not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        behind = 0
        for group, read in groups.items():
            committed = await admin.list_consumer_group_offsets(group)
            for topic in (read,) if isinstance(read, str) else read:
                ends = await end_offsets(bootstrap_servers, topic)
                for partition, end in ends.items():
                    done = committed.get(TopicPartition(topic, partition))
                    behind += end - (done.offset if done is not None and done.offset >= 0 else 0)
        return behind
    finally:
        await admin.close()
