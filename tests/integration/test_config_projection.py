"""The projection consumer on a real broker and PostgreSQL: the four topics through one
group, a batch written in one statement as config_worker, and a record that is not an
event parked on its topic's dead-letter topic while its neighbours are projected."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.config.adapters import monitoring
from services.config.adapters.projection_store import MessageEventStore
from services.config.adapters.tenancy import DbRole, admin_session, role_sessions
from services.config.entrypoints.projector import projection_consumer, stop_within
from shared.contracts.deliveries import ReplyDelivered
from shared.contracts.messages import Channel, IdentifiedBy, MessageReceived, UserIdentified
from shared.contracts.topics import MESSAGE_DELIVERIES, MESSAGES_IDENTIFIED, MESSAGES_RECEIVED
from shared.db import make_engine
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(bootstrapped: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(bootstrapped["DATABASE_URL"], pool_size=4)
    yield engine
    await engine.dispose()


def _events(message_id: str, key: str) -> list[tuple[str, uuid.UUID, bytes]]:
    received = MessageReceived(
        message_id=message_id,
        conversation_key=key,
        channel=Channel.API,
        source="whatsapp",
        customer_phone="+33600000009",
        business_phone=None,
        text="hello",
        received_at="2026-01-01T00:00:00Z",
    )
    identified = UserIdentified(
        **received.model_dump(exclude={"event_id", "event_type", "occurred_at"}),
        user_id=None,
        identified_by=IdentifiedBy.NONE,
    )
    delivered = ReplyDelivered(
        message_id=message_id,
        conversation_key=key,
        user_id=None,
        channel=Channel.API,
        provider_message_ids=[],
        parts=1,
    )
    return [
        (MESSAGES_RECEIVED.name, received.event_id, received.model_dump_json().encode()),
        (MESSAGES_IDENTIFIED.name, identified.event_id, identified.model_dump_json().encode()),
        (MESSAGE_DELIVERIES.name, delivered.event_id, delivered.model_dump_json().encode()),
    ]


async def _projected(
    engine: AsyncEngine, message_id: str, wanted: set[uuid.UUID]
) -> set[uuid.UUID]:
    """The wanted event ids found on the message's timeline (running services, when the
    session has them, may add events of their own to it)."""
    deadline = time.monotonic() + 30
    while True:
        async with admin_session(engine) as session, session.begin():
            found = {row["event_id"] for row in await monitoring.timeline(session, message_id)}
        if wanted <= found or time.monotonic() > deadline:
            return wanted & found
        await asyncio.sleep(0.1)


async def test_one_group_projects_every_topic_and_parks_what_is_not_an_event(
    bootstrapped: dict[str, str], engine: AsyncEngine
) -> None:
    kafka = bootstrapped["KAFKA_BOOTSTRAP_SERVERS"]
    message_id, junk = f"proj-{uuid.uuid4()}", f"not an event {uuid.uuid4()}".encode()
    key = f"api:-:{message_id}".encode()
    events = _events(message_id, key.decode())
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for n, (topic, _, value) in enumerate(events):
            await producer.send_and_wait(topic, value, key=key)
            if n == 0:
                await producer.send_and_wait(MESSAGES_RECEIVED.name, junk, key=key)
    finally:
        await producer.stop()

    store = MessageEventStore(role_sessions(engine, DbRole.WORKER))
    consumer = projection_consumer(kafka, store, max_in_flight=64)
    await consumer.start()
    try:
        wanted = {event_id for _, event_id, _ in events}
        assert await _projected(engine, message_id, wanted) == wanted
        assert await _parked(kafka, junk)
    finally:
        await stop_within(consumer, 10.0)


async def _parked(kafka: str, value: bytes) -> bool:
    deadline = time.monotonic() + 30
    while True:
        try:
            parked = [v for _, _, v in await read_topic(kafka, f"{MESSAGES_RECEIVED.name}.dlq")]
        except AssertionError:  # the topic is created by its first record: not there yet
            parked = []
        if value in parked or time.monotonic() > deadline:
            return value in parked
        await asyncio.sleep(0.2)
