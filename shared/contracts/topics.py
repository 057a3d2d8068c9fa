"""Kafka topics and their settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


MESSAGES_RECEIVED = TopicSpec("messages.received.v1", 12)
MESSAGES_IDENTIFIED = TopicSpec("messages.identified.v1", 12)
MESSAGE_OUTCOMES = TopicSpec("messages.outcomes.v1", 12)  # ResponseGenerated | ResponseFailed
# ReplyDelivered | ReplyFailed | DeliveryStatusReported
MESSAGE_DELIVERIES = TopicSpec("messages.deliveries.v1", 12)
# One partition keeps every config change in one total order; compaction keeps the latest
# event per entity forever, so a service rebuilds its view by reading the topic from the start.
CONFIG_CHANGES = TopicSpec(
    "config.changes.v1",
    1,
    {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
)

ALL_TOPICS = (
    MESSAGES_RECEIVED,
    MESSAGES_IDENTIFIED,
    MESSAGE_OUTCOMES,
    MESSAGE_DELIVERIES,
    CONFIG_CHANGES,
)
