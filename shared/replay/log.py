"""Reads topics from their first record to the end offsets captured at the start.

A throw-away consumer: no group, so nothing is committed and no live group is disturbed.
Records reach `apply` in offset order within each partition, one partition's records one
after another and partitions side by side, which is the order the live consumers keep (per
key, and a key always maps to one partition). Records published after the start are left
for the live consumers: the rebuild describes the log as it stood when the replay began.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.messaging import partitions_of

# The projection's answer for one record: False when the record is not for this read model
# (another event type, or unreadable, which the live consumer skips or dead-letters too).
Apply = Callable[[ConsumerRecord], Awaitable[bool | None]]


class ReplayError(RuntimeError):
    pass


@dataclass
class TopicRead:
    topic: str
    partitions: int
    records: int = 0
    skipped: int = 0
    # Offsets below the log start: records retention (or DeleteRecords) removed, so a
    # rebuild cannot see them. Zero while retention.ms=-1 holds.
    deleted: int = 0


async def read_log(
    bootstrap_servers: str,
    topics: Sequence[str],
    apply: Apply,
    *,
    idle_timeout_s: float = 60.0,
    queue_size: int = 500,
) -> list[TopicRead]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="replay",
    )
    await consumer.start()
    workers: list[asyncio.Task[None]] = []
    try:
        reads: dict[str, TopicRead] = {}
        partitions: list[TopicPartition] = []
        for topic in topics:
            numbers = await partitions_of(bootstrap_servers, topic)
            if not numbers:
                raise ReplayError(f"topic {topic} does not exist")
            reads[topic] = TopicRead(topic, len(numbers))
            partitions += [TopicPartition(topic, number) for number in numbers]
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            reads[tp.topic].deleted += starts[tp]
        await consumer.seek_to_beginning(*partitions)
        pending = {tp for tp in partitions if ends[tp] > starts[tp]}
        queues: dict[TopicPartition, asyncio.Queue[ConsumerRecord | None]] = {
            tp: asyncio.Queue(queue_size) for tp in pending
        }
        failures: list[BaseException] = []
        workers = [
            asyncio.create_task(_apply_in_order(queue, apply, reads[tp.topic], failures))
            for tp, queue in queues.items()
        ]
        last_progress = time.monotonic()
        while pending and not failures:
            batches = await consumer.getmany(*pending, timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        await queues[tp].put(record)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
                    await queues[tp].put(None)
            if batches:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > idle_timeout_s:
                raise ReplayError(
                    f"no records for {idle_timeout_s:.0f} s, {len(pending)} partitions unread"
                )
        if not failures:
            await asyncio.gather(*workers)
        if failures:
            first = failures[0]
            # First line only: drivers put statement parameters (message text) on later ones.
            reason = str(first).splitlines()[0][:300] if str(first) else ""
            where = " ".join(getattr(first, "__notes__", []))
            raise ReplayError(
                f"projection failed {where}: {type(first).__name__}: {reason}"
            ) from first
        return list(reads.values())
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await consumer.stop()


async def _apply_in_order(
    queue: asyncio.Queue[ConsumerRecord | None],
    apply: Apply,
    read: TopicRead,
    failures: list[BaseException],
) -> None:
    while (record := await queue.get()) is not None:
        if failures:
            continue  # the run has failed: drain, so the reader never blocks on a full queue
        try:
            if await apply(record) is False:
                read.skipped += 1
            read.records += 1
        except Exception as exc:
            exc.add_note(f"at {record.topic}[{record.partition}]@{record.offset}")
            failures.append(exc)
