"""What a batch handler sees and says: the records it gets, its verdicts, its options.

Handlers import these from here (or from shared.consumer, which re-exports them); the
consumer that feeds them is shared.consumer.KeyedBatchConsumer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import ConsumerRecord
from opentelemetry import context as otel_context
from opentelemetry import trace

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)
Key = bytes | None
# How long the broker may hold a fetch when there is nothing to return. It answers as soon
# as a record arrives, so this does not delay records; it only sets how often an idle
# consumer asks. At 10 ms the services' idle polling took 60 % of a core, and Kafka 50 %.
FETCH_MAX_WAIT_MS = 500


class Unprocessable(Exception):
    """Raised (or parked through `BatchResult.park`) for a record that can never succeed."""


class RetryLater(Exception):
    """Raised by a per-record handler: try this record again later, its key kept waiting."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


@dataclass(frozen=True, eq=False)
class Received(Generic[T_co]):
    """One record as a handler sees it: the parsed event and the record's own span."""

    event: T_co
    record: ConsumerRecord
    span: trace.Span
    # How many times this record has been handed to a handler in this process (1 = first).
    delivery: int
    # When this record was first handed out (monotonic); a handler bounds its retries by it.
    first_handled_at: float

    def carrying(self, event: T) -> Received[T]:
        """The same record and span with another view of its event (e.g. a transcript
        answered as the message's text)."""
        return Received(event, self.record, self.span, self.delivery, self.first_handled_at)

    @property
    def key(self) -> Key:
        key: Key = self.record.key
        return key

    @property
    def context(self) -> otel_context.Context:
        """The record's trace context: publish under it so the next hop joins its trace."""
        return trace.set_span_in_context(self.span)

    @contextlib.contextmanager
    def activated(self) -> Iterator[None]:
        """Run a block (a model call, a statement) inside this record's span."""
        with trace.use_span(self.span, end_on_exit=False):
            yield


@dataclass(frozen=True)
class _Verdict:
    kind: str  # "retry" | "fail" | "park"
    reason: str
    after_s: float | None = None
    error: BaseException | None = None


class BatchResult:
    """What a batch handler says of the records it did not finish (the rest are done)."""

    def __init__(self) -> None:
        self.verdicts: dict[int, _Verdict] = {}

    def retry_later(self, item: Received[Any], reason: str, after_s: float | None = None) -> None:
        """Not done yet (a rate limit, an outage): try again later, without holding a slot."""
        self.verdicts[id(item)] = _Verdict("retry", reason, after_s)

    def fail(self, item: Received[Any], error: BaseException) -> None:
        """Failed unexpectedly: retried with backoff, parked after `max_attempts`."""
        self.verdicts[id(item)] = _Verdict("fail", type(error).__name__, None, error)

    def park(self, item: Received[Any], reason: str) -> None:
        """Can never succeed: parked on the dead-letter topic at once."""
        self.verdicts[id(item)] = _Verdict("park", reason)


class BatchHandler(Protocol[T_contra]):
    async def __call__(self, batch: Sequence[Received[T_contra]], /) -> BatchResult | None: ...


RecordHandler = Callable[[Received[T]], Awaitable[None]]


def per_record(handler: RecordHandler[T]) -> BatchHandler[T]:
    """A batch handler that runs a per-record handler on each record of the batch
    concurrently, inside the record's span. Use with `max_batch=1` when records take very
    different times (a model call): a batch finishes when its slowest record does."""

    async def handle(batch: Sequence[Received[T]]) -> BatchResult:
        result = BatchResult()
        if len(batch) != 1:  # each record as a batch of its own, concurrently
            for alone in await asyncio.gather(*(handle([item]) for item in batch)):
                result.verdicts.update(alone.verdicts)
            return result
        item = batch[0]
        with item.activated():
            try:
                await handler(item)
            except RetryLater as later:
                result.retry_later(item, later.reason, later.after_s)
            except Unprocessable as exc:
                result.park(item, f"unprocessable: {exc}"[:300])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                item.span.record_exception(exc)
                result.fail(item, exc)
        return result

    return handle


@dataclass(frozen=True)
class ConsumerOptions:
    max_in_flight: int = 64
    # Records of one group of keys (a tenant: see `group_of`) in flight at once.
    max_in_flight_per_group: int | None = None
    max_batch: int = 100
    # Records fetched and held (queued behind busy keys, waiting to retry, running).
    max_buffered: int = 5000
    max_attempts: int = 8
    first_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS
    # The broker answers a fetch once this much is there (or fetch_max_wait_ms passed): 1 for
    # the message path, where each record is awaited; more where latency does not matter and
    # bigger batches mean fewer transactions (the config projection).
    fetch_min_bytes: int = 1
    # Finished offsets are committed at most this often (and always on revoke and stop):
    # a commit per record was a broker round trip per record per consumer group. A crash
    # re-delivers at most this much finished work, which the handlers' idempotency absorbs.
    commit_interval_s: float = 0.2
    shutdown_timeout_s: float = 15.0
    # False for a handler whose result does not depend on the order of a key's records (a
    # read model built order-insensitively): a fetch then makes one batch instead of one
    # per record of its busiest key. Offsets are still committed in order.
    ordered_by_key: bool = True


def tenant_of(key: Key) -> Key:
    """The group of a conversation key `channel:business:customer`: `channel:business`."""
    if key is None:
        return None
    return key.rpartition(b":")[0] or key
