"""ensure_topics against a real broker: an existing topic's configs are brought in line with
its spec (retention of the event log), other overrides are kept, and a second run is a no-op."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.contracts.topics import KEEP_FOREVER, TopicSpec
from shared.messaging import ensure_topics
from shared.topic_configs import topic_overrides

pytestmark = pytest.mark.integration


async def _overrides(kafka: str, name: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        return (await topic_overrides(admin, [name]))[name]
    finally:
        await admin.close()


async def test_an_existing_topic_gets_the_specs_retention_and_keeps_its_other_overrides(
    kafka: str,
) -> None:
    name = f"it-retention-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:  # as made by an older bootstrap: a week of retention, plus an operator's override
        await admin.create_topics(
            [
                NewTopic(
                    name,
                    2,
                    1,
                    topic_configs={"retention.ms": "604800000", "max.message.bytes": "2000000"},
                )
            ]
        )
    finally:
        await admin.close()
    spec = TopicSpec(name, 2, dict(KEEP_FOREVER))

    assert await ensure_topics(kafka, (spec,)) == [name]

    assert await _overrides(kafka, name) == {"retention.ms": "-1", "max.message.bytes": "2000000"}
    assert await ensure_topics(kafka, (spec,)) == []  # idempotent: nothing left to change
    assert await _overrides(kafka, name) == {"retention.ms": "-1", "max.message.bytes": "2000000"}


async def test_a_new_topic_is_created_with_its_configs_and_left_alone(kafka: str) -> None:
    name = f"it-compact-{uuid.uuid4().hex[:10]}"
    spec = TopicSpec(name, 1, {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})

    assert await ensure_topics(kafka, (spec,)) == []

    assert await _overrides(kafka, name) == spec.config
