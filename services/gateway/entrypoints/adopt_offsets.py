"""One-shot upgrade step: start the gateway's single outcomes group where the two groups it
replaces had got to, instead of at the start of the topic.

    KAFKA_BOOTSTRAP_SERVERS=... python -m services.gateway.entrypoints.adopt_offsets

Per partition of `messages.outcomes.v1` the new group (`gateway-outcomes`) gets the lower
of the two former groups' committed offsets (`gateway` recorded API outcomes,
`gateway-delivery` sent replies): nothing either group had not finished is skipped, and
what only one of them had finished is handled again, harmlessly (recording an outcome
and claiming a reply are idempotent). A partition one former group never committed is
left alone: the new group reads it from the start. Does nothing when the new group
already has offsets (it ran before, or the gateways already started). Run it after the
old gateways stopped and before the new ones start; while old and new overlap, the
claim table still sends each reply once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.gateway.entrypoints.outcomes import FORMER_GROUPS, GROUP
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.messaging import partitions_of

Offsets = dict[TopicPartition, int]


def adopted(former: Mapping[str, Offsets], partitions: list[TopicPartition]) -> Offsets:
    """The new group's start: per partition, the lowest offset every former group
    committed; a partition some former group never committed is left out."""
    if not former:
        return {}
    return {
        tp: min(offsets[tp] for offsets in former.values())
        for tp in partitions
        if all(tp in offsets for offsets in former.values())
    }


async def _committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> Offsets:
    listed = await admin.list_consumer_group_offsets(group)
    return {
        tp: meta.offset for tp, meta in listed.items() if tp.topic == topic and meta.offset >= 0
    }


async def adopt(
    bootstrap_servers: str,
    group: str = GROUP,
    former_groups: tuple[str, ...] = FORMER_GROUPS,
    topic: str = MESSAGE_OUTCOMES.name,
) -> Offsets:
    """Commit the adopted offsets for `group`; returns them (empty when nothing to do)."""
    partitions = [TopicPartition(topic, p) for p in await partitions_of(bootstrap_servers, topic)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        if await _committed(admin, group, topic):
            return {}
        former = {g: await _committed(admin, g, topic) for g in former_groups}
    finally:
        await admin.close()
    offsets = adopted({g: o for g, o in former.items() if o}, partitions)
    if not offsets:
        return {}
    # A consumer with the group's id but no subscription commits as the (empty) group.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    return offsets


def main() -> int:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        print("adopt_offsets: KAFKA_BOOTSTRAP_SERVERS is required", file=sys.stderr)
        return 2
    offsets = asyncio.run(adopt(servers))
    if offsets:
        print(f"adopt_offsets: {GROUP} starts at {len(offsets)} partitions' former offsets")
    else:
        print(f"adopt_offsets: nothing to adopt ({GROUP} has offsets, or no former group does)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
