"""What becomes of a handled record: done, retried later on a timer (its key kept waiting,
no slot held), retried with backoff after a failure, or parked on `<topic>.dlq` with the
reason in its headers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry.trace import Status, StatusCode
from prometheus_client import Counter

from shared.batch_handlers import ConsumerOptions, Received, _Verdict
from shared.consumer_schedule import Entry
from shared.logging import get_logger

PROCESSED = Counter(
    "kafka_records_processed_total", "Records handled, by result", ["group", "topic", "result"]
)
DEAD_LETTERS = Counter(
    "kafka_records_dead_lettered_total", "Records parked on <topic>.dlq", ["group", "topic", "why"]
)
log = get_logger("shared.consumer")


def first_line(exc: BaseException) -> str:
    # First line only: drivers put statement parameters on later lines.
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


class Verdicts:
    def __init__(
        self,
        *,
        group: str,
        options: ConsumerOptions,
        dlq: AIOKafkaProducer,
        wake: Callable[[Entry], None],
    ) -> None:
        """`wake` is told when a record's retry is due."""
        self._group = group
        self._options = options
        self._dlq = dlq
        self._wake = wake

    async def settle(self, entry: Entry, item: Received[Any], verdict: _Verdict | None) -> bool:
        """Act on the handler's verdict (None: done), and end the record's span. True when
        the record is finished (handled or parked), False when it waits for a retry."""
        topic = entry.record.topic
        span = item.span
        try:
            if verdict is None:
                PROCESSED.labels(self._group, topic, "ok").inc()
                return True
            if verdict.kind == "park":
                span.set_status(Status(StatusCode.ERROR, verdict.reason[:100]))
                return await self.park(entry, verdict.reason, "unprocessable")
            if verdict.kind == "retry":
                PROCESSED.labels(self._group, topic, "deferred").inc()
                span.add_event("retry later", {"reason": verdict.reason[:200]})
                delay = verdict.after_s
                self.retry_in(entry, self._backoff(entry.deliveries) if delay is None else delay)
                return False
            return await self._failed(entry, item, verdict)
        finally:
            span.end()

    async def _failed(self, entry: Entry, item: Received[Any], verdict: _Verdict) -> bool:
        entry.failures += 1
        if verdict.error is not None:
            item.span.record_exception(verdict.error)
        failure = first_line(verdict.error) if verdict.error else verdict.reason
        if entry.failures >= self._options.max_attempts:
            item.span.set_status(Status(StatusCode.ERROR, verdict.reason))
            return await self.park(entry, f"failed {entry.failures} times: {failure}", "failing")
        PROCESSED.labels(self._group, entry.record.topic, "retried").inc()
        log.warning(
            "record failed, retrying",
            group=self._group,
            topic=entry.record.topic,
            offset=entry.record.offset,
            attempt=entry.failures,
            error=failure,
        )
        self.retry_in(entry, self._backoff(entry.failures))
        return False

    def retry_in(self, entry: Entry, delay: float) -> None:
        def wake() -> None:
            entry.timer = None
            if not entry.gone:
                self._wake(entry)

        entry.timer = asyncio.get_running_loop().call_later(max(delay, 0.0), wake)

    def _backoff(self, failures: int) -> float:
        options = self._options
        delay: float = min(options.first_backoff_s * 2 ** (failures - 1), options.max_backoff_s)
        return delay

    async def park(self, entry: Entry, reason: str, why: str) -> bool:
        """Parked: True. The broker away: False, and the park is tried again later."""
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
            log.warning("dead-letter publish failed", group=self._group, error=first_line(exc))
            self.retry_in(entry, self._options.max_backoff_s)
            return False
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
        return True
