"""A Kafka consumer that works on many conversations at once without losing or reordering.

FastStream runs one message at a time per subscriber, and its concurrent mode commits
before the work is done. Here:
- records with the same key run one after another, in offset order (a per-key chain);
- records with different keys run concurrently, up to `max_in_flight`;
- a partition's offset is committed only up to the first record not yet finished, so a
  crash re-delivers unfinished work (handlers are idempotent) and never skips any;
- a failing record is retried with backoff, then parked on `<topic>.dlq` so it cannot
  block its partition forever.
The trace context written by FastStream's telemetry middleware is continued here, so a
record's processing span is a child of the span that published it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Gauge

from shared.logging import get_logger

Handler = Callable[[ConsumerRecord], Awaitable[None]]
# How long the broker may hold a fetch when there is nothing to return. It answers as soon
# as a record arrives, so this does not delay records; it only sets how often an idle
# consumer asks. At 10 ms the services' idle polling took 60 % of a core, and Kafka 50 %.
FETCH_MAX_WAIT_MS = 500
CONSUMER_LAG = Gauge(
    "kafka_consumer_lag",
    "Records behind the partition's end (high watermark minus committed offset)",
    ["group", "topic", "partition"],
)
IN_FLIGHT = Gauge("kafka_consumer_in_flight", "Records being processed", ["group", "topic"])
PROCESSED = Counter(
    "kafka_records_processed_total", "Records handled, by result", ["group", "topic", "result"]
)
log = get_logger(__name__)
tracer = trace.get_tracer("shared.consumer")


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


@dataclass(frozen=True)
class ConsumerOptions:
    max_in_flight: int = 64
    max_attempts: int = 8
    first_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS
    # Finished offsets are committed at most this often (and always on revoke and stop):
    # a commit per record was a broker round trip per record per consumer group. A crash
    # re-delivers at most this much finished work, which the handlers' idempotency absorbs.
    commit_interval_s: float = 0.2
    shutdown_timeout_s: float = 15.0


class KeyedConcurrentConsumer:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        handler: Handler,
        options: ConsumerOptions | None = None,
    ) -> None:
        self._topic = topic
        self._group = group_id
        self._handler = handler
        self._options = options or ConsumerOptions()
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
        self._tails: dict[bytes | None, asyncio.Task[None]] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_commit = 0.0
        self.ready = False

    async def start(self) -> None:
        await self._dlq.start()
        self._consumer.subscribe([self._topic], listener=_DrainOnRevoke(self))
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._run(), name=f"consume:{self._topic}")
        self.ready = True

    async def stop(self) -> None:
        """Stop fetching, let in-flight work finish (bounded), commit it, leave the group."""
        self._stopping = True
        self._stop_requested.set()
        self.ready = False
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await self._drain(set(self._progress))
        await self._consumer.stop()
        await self._dlq.stop()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def alive(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    async def _run(self) -> None:
        while not self._stopping:
            room = self._options.max_in_flight - len(self._in_flight)
            if room <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                if time.monotonic() - self._last_commit >= self._options.commit_interval_s:
                    await self._commit()
                continue
            batches = await self._consumer.getmany(timeout_ms=100, max_records=room)
            for tp, records in batches.items():
                progress = self._progress.setdefault(tp, _PartitionProgress())
                for record in records:
                    progress.pending.append(record.offset)
                    self._dispatch(tp, record)
            if time.monotonic() - self._last_commit >= self._options.commit_interval_s:
                await self._commit()
            self._report_lag()

    def _report_lag(self) -> None:
        IN_FLIGHT.labels(self._group, self._topic).set(len(self._in_flight))
        for tp, progress in self._progress.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None and progress.committed >= 0:
                CONSUMER_LAG.labels(self._group, tp.topic, str(tp.partition)).set(
                    max(highwater - progress.committed, 0)
                )

    def _dispatch(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        key = record.key
        previous = self._tails.get(key)
        task = asyncio.create_task(self._process(tp, record, previous))
        self._tails[key] = task
        self._in_flight.add(task)
        task.add_done_callback(lambda t: self._finished(t, key))

    def _finished(self, task: asyncio.Task[None], key: bytes | None) -> None:
        self._in_flight.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
        self._slot_freed.set()

    async def _process(
        self, tp: TopicPartition, record: ConsumerRecord, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(previous)
        carrier = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
        parent = propagate.extract(carrier)
        if self._stopping:
            return  # not started before the stop: left uncommitted, redelivered later
        with tracer.start_as_current_span(
            f"{record.topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
            },
        ) as span:
            if not await self._handle_with_retries(record, span):
                return
        progress = self._progress.get(tp)
        if progress is not None:
            progress.finished.add(record.offset)

    async def _handle_with_retries(self, record: ConsumerRecord, span: trace.Span) -> bool:
        """True when the record is done with (handled or dead-lettered); False when a stop
        interrupted its retries, so it stays uncommitted and comes back after a restart."""
        delay = self._options.first_backoff_s
        for attempt in range(1, self._options.max_attempts + 1):
            try:
                await self._handler(record)
                PROCESSED.labels(self._group, self._topic, "ok").inc()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                span.record_exception(exc)
                if attempt == self._options.max_attempts:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    log.error(
                        "record parked on dead-letter topic",
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        error=type(exc).__name__,
                    )
                    await self._dead_letter(record, exc)
                    PROCESSED.labels(self._group, self._topic, "dead_lettered").inc()
                    return True
                PROCESSED.labels(self._group, self._topic, "retried").inc()
                log.warning(
                    "record failed, retrying",
                    topic=record.topic,
                    offset=record.offset,
                    attempt=attempt,
                    # First line only: drivers put statement parameters on later lines.
                    error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[
                        :300
                    ],
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), delay)
                if self._stopping:
                    return False
                delay = min(delay * 2, self._options.max_backoff_s)
        return True

    async def _dead_letter(self, record: ConsumerRecord, exc: Exception) -> None:
        headers = [*(record.headers or ()), ("dlq-error", type(exc).__name__.encode())]
        await self._dlq.send_and_wait(
            f"{record.topic}.dlq", value=record.value, key=record.key, headers=headers
        )

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

    async def _drain(self, partitions: set[TopicPartition]) -> None:
        """Wait (bounded) for the work of these partitions, then commit what finished."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self._options.shutdown_timeout_s)
        with contextlib.suppress(Exception):
            await self._commit(partitions)
        for tp in partitions:
            self._progress.pop(tp, None)


class _DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KeyedConcurrentConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._drain(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
