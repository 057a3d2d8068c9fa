"""Kafka plumbing: the FastStream broker every service publishes with, and topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context as otel_context
from pydantic import BaseModel

from shared.contracts.topics import ALL_TOPICS, TopicSpec
from shared.topic_configs import align_topic_configs


def make_broker(bootstrap_servers: str, client_id: str) -> KafkaBroker:
    """acks=all + idempotence: an acknowledged publish survives a broker restart, no dupes.

    KafkaTelemetryMiddleware writes the W3C traceparent into every record's headers and
    continues the trace on consume; no other Kafka instrumentation is installed beside it.

    linger_ms=0: a record goes out as soon as the sender task runs, so records published in
    the same event-loop turn, or while the previous request is in flight, still share a
    request; a linger of 1 ms cost a whole millisecond per hop when idle (the producer's
    ack 3.1 -> 2.1 ms and produce-to-consume 3.9 -> 2.9 ms at p50, spaced 50 ms apart on
    the bench's broker).
    """
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


@dataclass(frozen=True)
class Outgoing:
    """An event to publish, keyed, under the trace context of the record it answers."""

    topic: TopicSpec
    event: BaseModel
    key: str
    context: otel_context.Context | None = None
    # Extra record headers a reader can decide on without parsing the value (ASCII).
    headers: Mapping[str, str] = field(default_factory=dict)


# What handlers are given to publish with: a test passes a list's `extend`-like fake.
Publish = Callable[[Sequence[Outgoing]], Awaitable[None]]


async def publish_events(broker: KafkaBroker, events: Sequence[Outgoing]) -> None:
    """Publish a batch: every record is handed to the producer first, then all acks are
    awaited together, so a batch costs one produce request per partition leader instead of
    one awaited round trip per event. Each record carries its own trace context."""
    futures = []
    for out in events:
        token = otel_context.attach(out.context) if out.context is not None else None
        try:
            futures.append(
                await broker.publish(
                    out.event.model_dump_json().encode(),
                    topic=out.topic.name,
                    key=out.key.encode(),
                    headers={
                        **out.headers,
                        "content-type": "application/json",
                        "event-type": type(out.event).__name__,
                    },
                    no_confirm=True,
                )
            )
        finally:
            if token is not None:
                otel_context.detach(token)
    if futures:
        await asyncio.gather(*futures)


def broker_publisher(broker: KafkaBroker) -> Publish:
    return functools.partial(publish_events, broker)


async def ensure_topics(
    bootstrap_servers: str,
    topics: tuple[TopicSpec, ...] = ALL_TOPICS,
    replication_factor: int = 1,
) -> list[str]:
    """Create missing topics, and align existing ones' configs (retention, compaction) with
    their specs. Idempotent; returns the names of the existing topics whose configs changed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(spec.name, spec.partitions, replication_factor, topic_configs=spec.config)
            for spec in topics
            if spec.name not in existing
        ]
        if missing:
            # another process may create one between list and create
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return await align_topic_configs(admin, [t for t in topics if t.name in existing])
    finally:
        await admin.close()


async def partitions_of(bootstrap_servers: str, topic: str) -> list[int]:
    """The topic's partition numbers, read from the cluster (empty when it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return sorted(p["partition"] for p in entry.get("partitions", []))
    return []
