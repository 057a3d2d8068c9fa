"""Committing a partition's offset only up to its first record not yet finished, so a
crash re-delivers unfinished work (handlers are idempotent) and never skips any."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Gauge

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag",
    "Records behind the partition's end (high watermark minus committed offset)",
    ["group", "topic", "partition"],
)
CAUGHT_UP_GRACE_S = 20.0


@dataclass
class _PartitionProgress:
    """Offsets handed out in order; the committable point is the first unfinished one."""

    pending: deque[int] = field(default_factory=deque)
    finished: set[int] = field(default_factory=set)
    committed: int = -1

    def committable(self) -> int | None:
        last = None
        while self.pending and self.pending[0] in self.finished:
            last = self.pending.popleft()
            self.finished.discard(last)
        if last is None:
            return None
        return last + 1


class OffsetCommits:
    """Each partition's progress, and its commits at most every `interval_s`."""

    def __init__(self, consumer: AIOKafkaConsumer, group: str, interval_s: float) -> None:
        self._consumer = consumer
        self._group = group
        self._interval_s = interval_s
        self._progress: dict[TopicPartition, _PartitionProgress] = {}
        self._last_commit = 0.0
        self._assigned_since: float | None = None
        self.caught_up = False

    @property
    def partitions(self) -> set[TopicPartition]:
        return set(self._progress)

    async def check_caught_up(self) -> None:
        """`caught_up`: the partitions were read up to their end and every record fetched
        was handled, or CAUGHT_UP_GRACE_S passed since the first assignment (a record stuck
        in retries must not hold back timer-driven work forever)."""
        assignment = self._consumer.assignment()
        if self.caught_up or not assignment:
            return
        now = time.monotonic()
        self._assigned_since = self._assigned_since or now
        if now - self._assigned_since > CAUGHT_UP_GRACE_S:
            self.caught_up = True
            return
        for tp in assignment:
            end = self._consumer.highwater(tp)
            if end is None or await self._consumer.position(tp) < end:
                return
        self.caught_up = all(set(p.pending) <= p.finished for p in self._progress.values())

    def fetched(self, tp: TopicPartition, offset: int) -> None:
        self._progress.setdefault(tp, _PartitionProgress()).pending.append(offset)

    def finished(self, tp: TopicPartition, offset: int) -> None:
        progress = self._progress.get(tp)
        if progress is not None:
            progress.finished.add(offset)

    async def commit_if_due(self) -> None:
        if time.monotonic() - self._last_commit >= self._interval_s:
            await self.commit()

    async def commit(self, partitions: set[TopicPartition] | None = None) -> None:
        self._last_commit = time.monotonic()
        offsets: dict[TopicPartition, int] = {}
        for tp, progress in self._progress.items():
            if partitions is not None and tp not in partitions:
                continue
            upto = progress.committable()
            if upto is not None and upto > progress.committed:
                offsets[tp] = upto
        if not offsets:
            return
        await self._consumer.commit(offsets)
        for tp, upto in offsets.items():
            self._progress[tp].committed = upto

    def forget(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self._progress.pop(tp, None)

    def report_lag(self) -> None:
        for tp, progress in self._progress.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None and progress.committed >= 0:
                CONSUMER_LAG.labels(self._group, tp.topic, str(tp.partition)).set(
                    max(highwater - progress.committed, 0)
                )
