"""What the keyed consumer reports: a processing span per record (a child of the span that
published it), a batch span linking a batch's records, and its gauges."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

from aiokafka import ConsumerRecord
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind
from prometheus_client import Gauge, Histogram

IN_FLIGHT = Gauge("kafka_consumer_in_flight", "Records being processed", ["group"])
BUFFERED = Gauge("kafka_consumer_buffered", "Records fetched, not yet finished", ["group"])
BATCH_SIZE = Histogram(
    "kafka_consumer_batch_records",
    "Records per handler call",
    ["group"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
tracer = trace.get_tracer("shared.consumer")


def record_span(record: ConsumerRecord) -> trace.Span:
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


def batch_span(records: Sequence[trace.Span]) -> AbstractContextManager[trace.Span]:
    """The current span while a batch of several records is handled."""
    return tracer.start_as_current_span(
        "process batch",
        kind=SpanKind.CONSUMER,
        links=[Link(span.get_span_context()) for span in records],
        attributes={"messaging.system": "kafka", "messaging.batch.size": len(records)},
    )
