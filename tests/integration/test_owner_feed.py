"""The owner feed on a real broker: changes already on the compacted topic are in the view
before start() returns (a restarted replica is not ready until it has them), and a change
published afterwards reaches the view of a running feed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    owner_key,
)
from shared.contracts.topics import CONVERSATION_OWNERS
from shared.owner_feed import OwnerFeed
from shared.views.conversation_owners import ConversationOwners

pytestmark = pytest.mark.integration


async def _publish(kafka: str, event: ConversationOwnerChanged) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        await producer.send_and_wait(
            CONVERSATION_OWNERS.name,
            event.model_dump_json().encode(),
            key=owner_key(event).encode(),
        )
    finally:
        await producer.stop()


async def test_the_view_holds_every_change_at_start_and_follows_new_ones(
    bootstrapped: dict[str, str],
) -> None:
    kafka = bootstrapped["KAFKA_BOOTSTRAP_SERVERS"]
    tenant = uuid.uuid4()
    key = f"whatsapp:+33100000000:+336{uuid.uuid4().int % 10**8:08d}"
    now = datetime.now(UTC)
    await _publish(
        kafka,
        ConversationOwnerChanged(
            user_id=tenant,
            conversation_key=key,
            owner=ConversationOwner.HUMAN,
            until=now + timedelta(hours=1),
            changed_by=OwnerChangedBy.BUSINESS_ECHO,
        ),
    )
    view = ConversationOwners()
    feed = OwnerFeed(kafka, view.apply)
    await feed.start(timeout_s=30)
    try:
        assert view.current(tenant, key, now).owner is ConversationOwner.HUMAN
        await _publish(
            kafka,
            ConversationOwnerChanged(
                user_id=tenant,
                conversation_key=None,
                owner=ConversationOwner.BOT,
                changed_by=OwnerChangedBy.TENANT_API,
            ),
        )
        for _ in range(100):
            if view.current(tenant, key, datetime.now(UTC)).bot_answers:
                break
            await asyncio.sleep(0.1)
        assert view.current(tenant, key, datetime.now(UTC)).bot_answers
    finally:
        await feed.stop()
