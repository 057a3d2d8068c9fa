"""A Kafka consumer that hands its handler batches, without losing or reordering anything.

FastStream runs one message at a time per subscriber, and its concurrent mode commits
before the work is done. Here:
- every key (a conversation) has a queue; only its head record is ever handed out, so
  records of one key are handled one after another, in offset order;
- the heads of idle keys are handed to the handler together, as one batch, so a handler
  pays its statement, publish and commit once per batch; batches of different keys run
  concurrently, up to `max_in_flight` records (and `max_in_flight_per_group` per group of
  keys, the tenant), so one tenant cannot take every slot;
- records queued behind a busy key take no slot: they are only buffered (bounded by
  `max_buffered`); a record waiting to be retried takes no slot either: it sits on a timer,
  its key blocked so order holds, while other keys run;
- a partition's offset is committed only up to the first record not yet finished, so a
  crash re-delivers unfinished work (handlers are idempotent) and never skips any;
- a record that cannot be parsed, or that the handler declares unprocessable, is parked
  on `<topic>.dlq` at once, with the reason in its headers; a record whose handling keeps
  failing is retried with backoff, then parked; neither blocks its partition or its batch
  neighbours (a batch that raises is retried one record at a time to find the bad one);
- on revoke and stop, running batches finish (bounded) and their offsets are committed.
Each record gets its own processing span, a child of the span that published it (one
trace per message); a batch of several records also gets a batch span linking them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from prometheus_client import Counter, Gauge, Histogram

from shared.batch_handlers import (
    FETCH_MAX_WAIT_MS,
    BatchHandler,
    BatchResult,
    ConsumerOptions,
    Key,
    Received,
    RecordHandler,
    RetryLater,
    Unprocessable,
    _Verdict,
    per_record,
    tenant_of,
)
from shared.logging import get_logger

__all__ = [
    "FETCH_MAX_WAIT_MS",
    "BatchHandler",
    "BatchResult",
    "ConsumerOptions",
    "Key",
    "KeyedBatchConsumer",
    "Received",
    "RecordHandler",
    "RetryLater",
    "Unprocessable",
    "per_record",
    "tenant_of",
]

T = TypeVar("T")
# `caught_up` turns true at the latest this long after the first assignment (a record stuck
# in retries must not hold back timer-driven work forever).
CAUGHT_UP_GRACE_S = 20.0
CONSUMER_LAG = Gauge(
    "kafka_consumer_lag",
    "Records behind the partition's end (high watermark minus committed offset)",
    ["group", "topic", "partition"],
)
IN_FLIGHT = Gauge("kafka_consumer_in_flight", "Records being processed", ["group"])
BUFFERED = Gauge("kafka_consumer_buffered", "Records fetched, not yet finished", ["group"])
PROCESSED = Counter(
    "kafka_records_processed_total", "Records handled, by result", ["group", "topic", "result"]
)
DEAD_LETTERS = Counter(
    "kafka_records_dead_lettered_total", "Records parked on <topic>.dlq", ["group", "topic", "why"]
)
BATCH_SIZE = Histogram(
    "kafka_consumer_batch_records",
    "Records per handler call",
    ["group"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
log = get_logger(__name__)
tracer = trace.get_tracer("shared.consumer")


@dataclass(eq=False)
class _Entry:
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


def _first_line(exc: BaseException) -> str:
    # First line only: drivers put statement parameters on later lines.
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


class KeyedBatchConsumer(Generic[T]):
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Sequence[str],
        group_id: str,
        parse: Callable[[ConsumerRecord], T],
        handler: BatchHandler[T],
        options: ConsumerOptions | None = None,
        group_of: Callable[[Key], Key] = tenant_of,
    ) -> None:
        self._topics = list(topics)
        self._group = group_id
        self._parse = parse
        self._handler = handler
        self._options = options or ConsumerOptions()
        self._group_of = group_of
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._options.fetch_max_wait_ms,
            max_poll_interval_ms=600_000,
        )
        self._dlq = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True
        )
        self._progress: dict[TopicPartition, _PartitionProgress] = {}
        self._queues: dict[Key, deque[_Entry]] = {}
        self._ready: dict[Key, None] = {}  # keys whose head may be handed out, oldest first
        self._group_running: Tally[Key] = Tally()
        self._running = 0
        self._buffered = 0
        self._batches: set[asyncio.Task[None]] = set()
        self._space = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_commit = 0.0
        self._assigned_since: float | None = None
        self._caught_up = False

    async def start(self) -> None:
        await self._dlq.start()
        self._consumer.subscribe(self._topics, listener=_DrainOnRevoke(self))
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._run(), name=f"consume:{self._group}")

    async def stop(self) -> None:
        """Stop fetching, let running batches finish (bounded), commit them, leave the group."""
        self._stopping = True
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await self._drain(set(self._progress))
        await self._consumer.stop()
        await self._dlq.stop()

    @property
    def in_flight(self) -> int:
        return self._running

    @property
    def alive(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def caught_up(self) -> bool:
        """Whether, since this process started, the consumer has read its partitions up to
        their end and handled what it read (or tried for CAUGHT_UP_GRACE_S): work driven by
        a timer (the responder's turns) waits for it so a record still in the log after a
        restart is not overtaken."""
        return self._caught_up

    async def _check_caught_up(self) -> None:
        assignment = self._consumer.assignment()
        if self._caught_up or not assignment:
            return
        now = time.monotonic()
        self._assigned_since = self._assigned_since or now
        if now - self._assigned_since > CAUGHT_UP_GRACE_S:
            self._caught_up = True
            return
        for tp in assignment:
            end = self._consumer.highwater(tp)
            if end is None or await self._consumer.position(tp) < end:
                return
        self._caught_up = all(set(p.pending) <= p.finished for p in self._progress.values())

    # -- fetching -------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            room = self._options.max_buffered - self._buffered
            if room <= 0:
                self._space.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._space.wait(), 1.0)
                await self._commit_if_due()
                continue
            fetched = await self._consumer.getmany(timeout_ms=100, max_records=min(room, 1000))
            for tp, records in fetched.items():
                progress = self._progress.setdefault(tp, _PartitionProgress())
                for record in records:
                    progress.pending.append(record.offset)
                    self._enqueue(_Entry(record, tp))
            self._dispatch()
            await self._commit_if_due()
            await self._check_caught_up()
            self._report()

    def _enqueue(self, entry: _Entry) -> None:
        try:
            entry.event = self._parse(entry.record)
        except Exception as exc:  # a record that cannot parse now never will
            entry.poison = f"unparseable: {_first_line(exc)}"
        self._buffered += 1
        key = entry.record.key
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = deque((entry,))
            self._ready[key] = None
        else:
            queue.append(entry)

    # -- scheduling -----------------------------------------------------------------------

    def _dispatch(self) -> None:
        options = self._options
        per_group = options.max_in_flight_per_group
        while self._ready and self._running < options.max_in_flight:
            room = min(options.max_in_flight - self._running, options.max_batch)
            batch: list[_Entry] = []
            for key in list(self._ready):
                entry = self._queues[key][0]
                group = self._group_of(key)
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
            self._running += len(batch)
            task = asyncio.create_task(self._run_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    def _release(self, entry: _Entry) -> None:
        self._running -= 1
        group = self._group_of(entry.record.key)
        self._group_running[group] -= 1
        if self._group_running[group] <= 0:
            del self._group_running[group]

    def _finish(self, entry: _Entry) -> None:
        """The head of its key is done: commit-able, and the key's next record is ready."""
        if entry.gone:
            return  # its partition was revoked: the next owner handles it again
        key = entry.record.key
        queue = self._queues.get(key)
        if queue and queue[0] is entry:
            queue.popleft()
            if queue:
                self._ready[key] = None
            else:
                del self._queues[key]
        self._buffered -= 1
        self._space.set()
        progress = self._progress.get(entry.tp)
        if progress is not None:
            progress.finished.add(entry.record.offset)

    def _retry_in(self, entry: _Entry, delay: float) -> None:
        def wake() -> None:
            entry.timer = None
            if entry.gone or self._stopping:
                return
            self._ready[entry.record.key] = None
            self._dispatch()

        entry.timer = asyncio.get_running_loop().call_later(max(delay, 0.0), wake)

    def _backoff(self, failures: int) -> float:
        options = self._options
        delay: float = min(options.first_backoff_s * 2 ** (failures - 1), options.max_backoff_s)
        return delay

    # -- handling -------------------------------------------------------------------------

    async def _run_batch(self, entries: list[_Entry]) -> None:
        now = time.monotonic()
        items: list[Received[T]] = []
        by_id: dict[int, _Entry] = {}
        poisoned: list[_Entry] = []
        for entry in entries:
            if entry.poison is not None:
                poisoned.append(entry)
                continue
            entry.deliveries += 1
            if entry.deliveries == 1:
                entry.first_handled_at = now
            item = Received(
                entry.event,
                entry.record,
                self._record_span(entry.record),
                entry.deliveries,
                entry.first_handled_at,
            )
            items.append(item)
            by_id[id(item)] = entry
        try:
            for entry in poisoned:
                await self._park(entry, entry.poison or "unparseable", "unparseable")
            if items:
                await self._handle(items, by_id)
        finally:
            for entry in entries:
                self._release(entry)
            if not self._stopping:
                self._dispatch()

    async def _handle(self, items: list[Received[T]], by_id: dict[int, _Entry]) -> None:
        BATCH_SIZE.labels(self._group).observe(len(items))
        result: BatchResult | None = None
        error: BaseException | None = None
        try:
            if len(items) == 1:
                with items[0].activated():
                    result = await self._handler(items)
            else:
                with tracer.start_as_current_span(
                    "process batch",
                    kind=SpanKind.CONSUMER,
                    links=[Link(item.span.get_span_context()) for item in items],
                    attributes={"messaging.system": "kafka", "messaging.batch.size": len(items)},
                ):
                    result = await self._handler(items)
        except asyncio.CancelledError:
            for item in items:
                item.span.end()
            raise
        except Exception as exc:
            error = exc
        verdicts = result.verdicts if result is not None else {}
        for item in items:
            entry = by_id[id(item)]
            verdict = verdicts.get(id(item))
            if error is not None:
                if len(items) > 1:  # someone in this batch is bad: try each alone
                    entry.solo = True
                    self._ready[entry.record.key] = None
                    item.span.end()
                    continue
                verdict = _Verdict("fail", type(error).__name__, None, error)
            await self._settle(entry, item, verdict)

    async def _settle(self, entry: _Entry, item: Received[T], verdict: _Verdict | None) -> None:
        topic = entry.record.topic
        span = item.span
        try:
            if verdict is None:
                PROCESSED.labels(self._group, topic, "ok").inc()
                self._finish(entry)
            elif verdict.kind == "park":
                span.set_status(Status(StatusCode.ERROR, verdict.reason[:100]))
                await self._park(entry, verdict.reason, "unprocessable")
            elif verdict.kind == "retry":
                PROCESSED.labels(self._group, topic, "deferred").inc()
                span.add_event("retry later", {"reason": verdict.reason[:200]})
                delay = verdict.after_s
                self._retry_in(entry, self._backoff(entry.deliveries) if delay is None else delay)
            else:
                entry.failures += 1
                if verdict.error is not None:
                    span.record_exception(verdict.error)
                failure = _first_line(verdict.error) if verdict.error else verdict.reason
                if entry.failures >= self._options.max_attempts:
                    span.set_status(Status(StatusCode.ERROR, verdict.reason))
                    await self._park(entry, f"failed {entry.failures} times: {failure}", "failing")
                else:
                    PROCESSED.labels(self._group, topic, "retried").inc()
                    log.warning(
                        "record failed, retrying",
                        group=self._group,
                        topic=topic,
                        offset=entry.record.offset,
                        attempt=entry.failures,
                        error=failure,
                    )
                    self._retry_in(entry, self._backoff(entry.failures))
        finally:
            span.end()

    def _record_span(self, record: ConsumerRecord) -> trace.Span:
        carrier = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
        return tracer.start_span(
            f"{record.topic} process",
            context=propagate.extract(carrier),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
            },
        )

    async def _park(self, entry: _Entry, reason: str, why: str) -> None:
        record = entry.record
        headers = [
            *(record.headers or ()),
            ("dlq-reason", reason.encode("utf-8", "replace")[:1000]),
            ("dlq-error", reason.partition(":")[0].encode()[:200]),
            ("dlq-group", self._group.encode()),
            ("dlq-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        try:
            await self._dlq.send_and_wait(
                f"{record.topic}.dlq", value=record.value, key=record.key, headers=headers
            )
        except Exception as exc:  # the broker is away: keep the record and try again
            log.warning("dead-letter publish failed", group=self._group, error=_first_line(exc))
            self._retry_in(entry, self._options.max_backoff_s)
            return
        DEAD_LETTERS.labels(self._group, record.topic, why).inc()
        PROCESSED.labels(self._group, record.topic, "dead_lettered").inc()
        log.error(
            "record parked on dead-letter topic",
            group=self._group,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason[:300],
        )
        self._finish(entry)

    # -- committing -----------------------------------------------------------------------

    async def _commit_if_due(self) -> None:
        if time.monotonic() - self._last_commit >= self._options.commit_interval_s:
            await self._commit()

    async def _commit(self, partitions: set[TopicPartition] | None = None) -> None:
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

    def _report(self) -> None:
        IN_FLIGHT.labels(self._group).set(self._running)
        BUFFERED.labels(self._group).set(self._buffered)
        for tp, progress in self._progress.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None and progress.committed >= 0:
                CONSUMER_LAG.labels(self._group, tp.topic, str(tp.partition)).set(
                    max(highwater - progress.committed, 0)
                )

    async def _drain(self, partitions: set[TopicPartition]) -> None:
        """Wait (bounded) for running batches, commit what finished, and forget the rest
        of these partitions: their unfinished records are redelivered to the next owner."""
        if self._batches:
            await asyncio.wait(set(self._batches), timeout=self._options.shutdown_timeout_s)
        with contextlib.suppress(Exception):
            await self._commit(partitions)
        for key, queue in list(self._queues.items()):
            if queue and queue[0].tp in partitions:
                for entry in queue:  # a batch still running past the timeout included
                    entry.gone = True
                    if entry.timer is not None:
                        entry.timer.cancel()
                self._buffered -= len(queue)
                del self._queues[key]
                self._ready.pop(key, None)
        for tp in partitions:
            self._progress.pop(tp, None)


class _DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KeyedBatchConsumer[Any]) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._drain(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
