"""Kafka topics and their settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


# The message topics are the record of what happened: the read models (identity's history,
# the responder's conversation store, the config service's message projection) are rebuilt
# from them by `python -m services.<svc>.entrypoints.replay`, so they keep every record.
# Kafka's default (7 days) would make a rebuild silently partial. README: "Event log and replay".
KEEP_FOREVER = {"retention.ms": "-1"}

MESSAGES_RECEIVED = TopicSpec("messages.received.v1", 12, dict(KEEP_FOREVER))
MESSAGES_IDENTIFIED = TopicSpec("messages.identified.v1", 12, dict(KEEP_FOREVER))
# ResponseGenerated | ResponseFailed
MESSAGE_OUTCOMES = TopicSpec("messages.outcomes.v1", 12, dict(KEEP_FOREVER))
# MediaResolved: one per media item of an inbound message (shared/contracts/media.py)
MESSAGES_MEDIA = TopicSpec("messages.media.v1", 12, dict(KEEP_FOREVER))
# ReplyDelivered | ReplyFailed | DeliveryStatusReported
MESSAGE_DELIVERIES = TopicSpec("messages.deliveries.v1", 12, dict(KEEP_FOREVER))
# ConversationOwnerChanged (shared/contracts/conversations.py), compacted by owner_key:
# the latest owner per conversation (and per tenant-wide switch) is kept forever; the
# config service's projection keeps the history for the audit trail.
CONVERSATION_OWNERS = TopicSpec(
    "conversations.owner.v1",
    12,
    {"cleanup.policy": "compact", "min.compaction.lag.ms": "604800000"},
)
# GroqKeyFailed (shared/contracts/groq_health.py), keyed by tenant: the responder's facts
# about keys and models; the config service's key health and usage are built from it.
GROQ_HEALTH = TopicSpec("groq.health.v1", 3, dict(KEEP_FOREVER))
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
    MESSAGES_MEDIA,
    MESSAGE_OUTCOMES,
    MESSAGE_DELIVERIES,
    CONVERSATION_OWNERS,
    GROQ_HEALTH,
    CONFIG_CHANGES,
)
