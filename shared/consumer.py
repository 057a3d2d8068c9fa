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
This module fetches and runs batches; `consumer_schedule` decides which records may run,
`consumer_verdicts` what becomes of each, `consumer_commits` which offsets are committed,
`consumer_spans` what is traced and measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

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
from shared.consumer_commits import OffsetCommits, _PartitionProgress
from shared.consumer_schedule import Entry, KeySchedule
from shared.consumer_spans import BATCH_SIZE, BUFFERED, IN_FLIGHT, batch_span, record_span
from shared.consumer_verdicts import Verdicts, first_line

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
    "_PartitionProgress",
    "per_record",
    "tenant_of",
]

T = TypeVar("T")


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
        skip: Callable[[ConsumerRecord], bool] | None = None,
    ) -> None:
        """`skip`: records this service has nothing to do with, told from the record's
        headers: committed in order with no parse, span or handler call."""
        self._topics = list(topics)
        self._skip = skip
        self._group = group_id
        self._parse = parse
        self._handler = handler
        self._options = options or ConsumerOptions()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._options.fetch_max_wait_ms,
            fetch_min_bytes=self._options.fetch_min_bytes,
            max_poll_interval_ms=600_000,
        )
        self._dlq = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True
        )
        self._schedule = KeySchedule(self._options, group_of)
        self._commits = OffsetCommits(self._consumer, group_id, self._options.commit_interval_s)
        self._verdicts = Verdicts(
            group=group_id,
            options=self._options,
            dlq=self._dlq,
            wake=self._wake,
        )
        self._batches: set[asyncio.Task[None]] = set()
        self._space = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

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
        await self._drain(self._commits.partitions)
        await self._consumer.stop()
        await self._dlq.stop()

    @property
    def in_flight(self) -> int:
        return self._schedule.running

    @property
    def alive(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def caught_up(self) -> bool:
        """Whether, since this process started, the consumer has read its partitions up to
        their end and handled what it read (or tried for CAUGHT_UP_GRACE_S): work driven by
        a timer (the responder's turns) waits for it so a record still in the log after a
        restart is not overtaken."""
        return self._commits.caught_up

    # -- fetching -------------------------------------------------------------------------

    async def _run(self) -> None:
        schedule = self._schedule
        while not self._stopping:
            room = self._options.max_buffered - schedule.buffered
            if room <= 0:
                self._space.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._space.wait(), 1.0)
                await self._commits.commit_if_due()
                continue
            fetched = await self._consumer.getmany(timeout_ms=100, max_records=min(room, 1000))
            for tp, records in fetched.items():
                for record in records:
                    self._commits.fetched(tp, record.offset)
                    if self._skip is not None and self._skip(record):
                        self._commits.finished(tp, record.offset)
                        continue
                    schedule.enqueue(self._entry(record, tp))
            self._dispatch()
            await self._commits.commit_if_due()
            IN_FLIGHT.labels(self._group).set(schedule.running)
            BUFFERED.labels(self._group).set(schedule.buffered)
            self._commits.report_lag()
            await self._commits.check_caught_up()

    def _entry(self, record: ConsumerRecord, tp: TopicPartition) -> Entry:
        entry = Entry(record, tp)
        try:
            entry.event = self._parse(record)
        except Exception as exc:  # a record that cannot parse now never will
            entry.poison = f"unparseable: {first_line(exc)}"
        return entry

    def _dispatch(self) -> None:
        for batch in self._schedule.batches():
            task = asyncio.create_task(self._run_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    def _finish(self, entry: Entry) -> None:
        if self._schedule.finish(entry):
            self._space.set()
            self._commits.finished(entry.tp, entry.record.offset)

    def _wake(self, entry: Entry) -> None:
        if not self._stopping:
            self._schedule.ready_again(entry)
            self._dispatch()

    async def _run_batch(self, entries: list[Entry]) -> None:
        """Park the poisoned entries, hand the rest to the handler as one batch, settle."""
        items, by_id = _received(entries)
        result: BatchResult | None = None
        error: BaseException | None = None
        try:
            for entry in entries:
                if entry.poison is not None and await self._verdicts.park(
                    entry, entry.poison, "unparseable"
                ):
                    self._finish(entry)
            if not items:
                return
            BATCH_SIZE.labels(self._group).observe(len(items))
            try:
                if len(items) == 1:
                    with items[0].activated():
                        result = await self._handler(items)
                else:
                    with batch_span([item.span for item in items]):
                        result = await self._handler(items)
            except asyncio.CancelledError:
                for item in items:
                    item.span.end()
                raise
            except Exception as exc:
                error = exc
            await self._settle(items, by_id, result, error)
        finally:
            for entry in entries:
                self._schedule.release(entry)
            if not self._stopping:
                self._dispatch()

    async def _settle(
        self,
        items: list[Received[T]],
        by_id: dict[int, Entry],
        result: BatchResult | None,
        error: BaseException | None,
    ) -> None:
        """What becomes of each record after the handler returned (or raised `error`)."""
        verdicts = result.verdicts if result is not None else {}
        for item in items:
            entry = by_id[id(item)]
            verdict = verdicts.get(id(item))
            if error is not None:
                if len(items) > 1:  # someone in this batch is bad: try each alone
                    entry.solo = True
                    self._schedule.ready_again(entry)
                    item.span.end()
                    continue
                verdict = _Verdict("fail", type(error).__name__, None, error)
            if await self._verdicts.settle(entry, item, verdict):
                self._finish(entry)

    async def _drain(self, partitions: set[TopicPartition]) -> None:
        """Wait (bounded) for running batches, commit what finished, and forget the rest
        of these partitions: their unfinished records are redelivered to the next owner."""
        if self._batches:
            await asyncio.wait(set(self._batches), timeout=self._options.shutdown_timeout_s)
        with contextlib.suppress(Exception):
            await self._commits.commit(partitions)
        self._schedule.forget(partitions)
        self._commits.forget(partitions)


def _received(entries: list[Entry]) -> tuple[list[Received[Any]], dict[int, Entry]]:
    """The entries that parsed, as the handler receives them (by the id of each item)."""
    now = time.monotonic()
    items: list[Received[Any]] = []
    by_id: dict[int, Entry] = {}
    for entry in entries:
        if entry.poison is not None:
            continue
        entry.deliveries += 1
        if entry.deliveries == 1:
            entry.first_handled_at = now
        span = record_span(entry.record)
        item = Received(entry.event, entry.record, span, entry.deliveries, entry.first_handled_at)
        items.append(item)
        by_id[id(item)] = entry
    return items, by_id


class _DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KeyedBatchConsumer[Any]) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._drain(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
