"""Which fetched records may run now: one queue per key, only its head handed out.

Pure bookkeeping (no Kafka, no handler): the consumer enqueues what it fetched, asks for
batches of ready heads within its slot caps, and reports each head finished or waiting to be
retried. Records of one key run one after another in offset order; heads of idle keys run
together (with `ordered_by_key` off, every record is a head of its own); a group of keys (a
tenant) holds at most `max_in_flight_per_group` slots; records queued behind a busy key, or
waiting on a retry timer, hold no slot.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from shared.batch_handlers import ConsumerOptions, Key


@dataclass(eq=False)
class Entry:
    """A fetched record and what the consumer knows of its handling so far."""

    record: ConsumerRecord
    tp: TopicPartition
    event: Any = None
    poison: str | None = None  # why it cannot be parsed, when it cannot
    failures: int = 0
    deliveries: int = 0
    first_handled_at: float = 0.0
    solo: bool = False  # handed out alone: its batch failed and the culprit is being found
    timer: asyncio.TimerHandle | None = None
    gone: bool = False  # its partition was revoked while it waited


class KeySchedule:
    def __init__(self, options: ConsumerOptions, group_of: Callable[[Key], Key]) -> None:
        self._options = options
        self._group_of = group_of
        # Queued by record key; without `ordered_by_key`, each record is a queue of its own.
        self._queues: dict[Hashable, deque[Entry]] = {}
        self._ready: dict[Hashable, None] = {}  # queues whose head may go out, oldest first
        self._group_running: Tally[Key] = Tally()
        self.running = 0  # records handed out and not yet released
        self.buffered = 0  # records fetched and not yet finished

    def _queue_of(self, entry: Entry) -> Hashable:
        key: Key = entry.record.key
        return key if self._options.ordered_by_key else (entry.tp, entry.record.offset)

    def enqueue(self, entry: Entry) -> None:
        self.buffered += 1
        key = self._queue_of(entry)
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = deque((entry,))
            self._ready[key] = None
        else:
            queue.append(entry)

    def batches(self) -> Iterator[list[Entry]]:
        """Hand out ready heads, a batch at a time, while slots are free; each record
        handed out holds its slot until `release`."""
        options = self._options
        per_group = options.max_in_flight_per_group
        while self._ready and self.running < options.max_in_flight:
            room = min(options.max_in_flight - self.running, options.max_batch)
            batch: list[Entry] = []
            for key in list(self._ready):
                entry = self._queues[key][0]
                group = self._group_of(entry.record.key)
                if per_group is not None and self._group_running[group] >= per_group:
                    continue
                if entry.solo and batch:
                    continue
                del self._ready[key]
                self._group_running[group] += 1
                batch.append(entry)
                if entry.solo or len(batch) >= room:
                    break
            if not batch:
                return  # every ready key belongs to a group at its cap
            self.running += len(batch)
            yield batch

    def release(self, entry: Entry) -> None:
        """Its handling ended (whatever the verdict): its slot is free."""
        self.running -= 1
        group = self._group_of(entry.record.key)
        self._group_running[group] -= 1
        if self._group_running[group] <= 0:
            del self._group_running[group]

    def ready_again(self, entry: Entry) -> None:
        """Its key's head (this entry) may be handed out again: a retry is due."""
        self._ready[self._queue_of(entry)] = None

    def finish(self, entry: Entry) -> bool:
        """The head of its key is done: the key's next record is ready. False when its
        partition was revoked meanwhile (the next owner handles it again)."""
        if entry.gone:
            return False
        key = self._queue_of(entry)
        queue = self._queues.get(key)
        if queue and queue[0] is entry:
            queue.popleft()
            if queue:
                self._ready[key] = None
            else:
                del self._queues[key]
        self.buffered -= 1
        return True

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop the queued records of revoked partitions, cancelling their retry timers;
        a batch still running with one of them finds it `gone`."""
        for key, queue in list(self._queues.items()):
            if queue and queue[0].tp in partitions:
                for entry in queue:
                    entry.gone = True
                    if entry.timer is not None:
                        entry.timer.cancel()
                self.buffered -= len(queue)
                del self._queues[key]
                self._ready.pop(key, None)
