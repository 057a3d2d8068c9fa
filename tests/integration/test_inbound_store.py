"""The gateway's inbound store on a real PostgreSQL and broker: concurrent provider
deliveries share one transaction (group commit), and when each caller gets its answer its
own new events are already in Kafka, each row keeping the trace context of its request;
a delivery seen before publishes nothing again."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from opentelemetry import propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.gateway.adapters.echoes import EchoRecorder
from services.gateway.adapters.inbound import InboundStore, ProviderAcceptance, ProviderDelivery
from services.gateway.adapters.inbound_statement import accept_rows
from services.gateway.adapters.tables import gateway_outbox, inbound_messages
from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.echoes import Echo
from shared.contracts.config_events import WhatsAppConfigChanged
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel, MessageReceived, conversation_key
from shared.contracts.topics import CONVERSATION_OWNERS, MESSAGE_DELIVERIES, MESSAGES_RECEIVED
from shared.db import Statements, make_engine, make_sessionmaker
from shared.messaging import make_broker
from shared.outbox import Outbox, OutboxUnit
from shared.views.whatsapp import WhatsAppDirectory

pytestmark = pytest.mark.integration


def _message(message_id: str, customer: str) -> MessageReceived:
    return MessageReceived(
        message_id=message_id,
        conversation_key=conversation_key(Channel.WHATSAPP, "1001", customer),
        channel=Channel.WHATSAPP,
        source="whatsapp",
        customer_phone=customer,
        phone_number_id="1001",
        text="hello",
        received_at=datetime.now(UTC).isoformat(),
    )


def _receipt(provider_message_id: str) -> DeliveryStatusReported:
    return DeliveryStatusReported(
        channel=Channel.WHATSAPP, provider_message_id=provider_message_id, status="read"
    )


async def _in_kafka(kafka: str, topics: list[str], wanted: set[bytes]) -> set[bytes]:
    """Which of the wanted keys can be read from the topics within 5 s. The test starts no
    outbox relay, so whatever is found was published by the write itself. (Not "up to the
    end offsets read once": a fresh broker answered those with 0 for records it had already
    acknowledged.)"""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: set[bytes] = set()
    deadline = asyncio.get_running_loop().time() + 5.0
    try:
        while found != wanted and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                found.update(w for r in records for w in wanted if w in r.value)
    finally:
        await consumer.stop()
    return found


async def _leaders_elected(kafka: str, topics: list[str]) -> None:
    """A broker started moments ago may not have elected every partition's leader yet; its
    first produce then retries past the store's 2 s publish bound (a slow broker, not what
    this test is about)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    described: list[dict[str, Any]] = []
    try:
        for _ in range(100):
            described = await admin.describe_topics(topics)
            leaders = [p.get("leader", -1) for t in described for p in t.get("partitions", [])]
            if leaders and min(leaders) >= 0:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    # The controller names a leader before that broker serves the partition (a produce then
    # answers NotLeaderForPartition): wait until every leader answers a ListOffsets.
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            for p in t.get("partitions", [])
        ]
        for _ in range(100):
            try:
                await consumer.end_offsets(partitions)
                return
            except KafkaError:
                await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


def _span() -> NonRecordingSpan:
    return NonRecordingSpan(
        SpanContext(
            trace_id=random.getrandbits(128),
            span_id=random.getrandbits(64),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )


async def test_each_delivery_is_in_kafka_when_accepted_and_keeps_its_trace(
    kafka: str, bootstrapped: dict[str, str]
) -> None:
    await _leaders_elected(kafka, [MESSAGES_RECEIVED.name, MESSAGE_DELIVERIES.name])
    engine = make_engine(bootstrapped["DATABASE_URL"])
    broker = make_broker(kafka, client_id="it-inbound")
    await broker.connect()
    outbox = Outbox(gateway_outbox, make_sessionmaker(engine), broker)
    echoes = EchoRecorder(WhatsAppDirectory(), ConversationSettingsView())
    store = InboundStore(outbox, echoes, Statements(engine))
    run = uuid.uuid4().hex[:10]
    ids = [f"wamid.it{run}-{n}" for n in range(6)]
    spans = [_span() for _ in ids]

    async def deliver(n: int) -> tuple[ProviderAcceptance, set[bytes]]:
        with trace.use_span(spans[n]):
            accepted = await store.accept_provider_delivery(
                ProviderDelivery(
                    [_message(ids[n], f"+3361234{n:04d}")], receipts=[_receipt(f"out{run}-{n}")]
                )
            )
        # Answered: this delivery's events must be in Kafka now, not after the relay's 3 s.
        mine = {ids[n].encode(), f"out{run}-{n}".encode()}
        return accepted, await _in_kafka(
            kafka, [MESSAGES_RECEIVED.name, MESSAGE_DELIVERIES.name], mine
        )

    try:
        results = await asyncio.gather(*(deliver(n) for n in range(len(ids))))
        again = await store.accept_provider_delivery(
            ProviderDelivery(
                [_message(ids[0], "+33612340000")], [(ids[1], Channel.WHATSAPP, "image")]
            )
        )
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(gateway_outbox.c.payload, gateway_outbox.c.trace_carrier).where(
                        gateway_outbox.c.payload.contains(run)
                    )
                )
            ).all()
    finally:
        await broker.stop()
        await engine.dispose()

    for n, (accepted, in_kafka) in enumerate(results):
        assert (accepted.published, accepted.duplicates) == (2, 0)
        assert in_kafka == {ids[n].encode(), f"out{run}-{n}".encode()}
    assert (again.published, again.duplicates) == (0, 2)
    assert len(rows) == 2 * len(ids)  # the repeated delivery staged nothing
    for n, span in enumerate(spans):
        carrier: dict[str, str] = {}
        propagate.inject(carrier, trace.set_span_in_context(span))
        mine = [row for row in rows if f'-{n}"' in row.payload]
        assert [row.trace_carrier for row in mine] == [carrier, carrier]


class FailingEchoes(EchoRecorder):
    """Stages its echoes, then fails: the delivery's unit must keep none of its rows."""

    async def stage(self, unit: OutboxUnit, echoes: Sequence[Echo]) -> list[str]:
        outcomes = await super().stage(unit, echoes)
        if echoes:
            raise ConnectionResetError("database went away mid-delivery")
        return outcomes


async def test_a_delivery_and_its_echoes_are_one_transaction(
    kafka: str, bootstrapped: dict[str, str]
) -> None:
    engine = make_engine(bootstrapped["DATABASE_URL"])
    broker = make_broker(kafka, client_id="it-echoes")
    await broker.connect()
    directory, settings = WhatsAppDirectory(), ConversationSettingsView()
    user_id, number_id = uuid.uuid4(), f"PN{uuid.uuid4().hex[:10]}"
    directory.apply(
        WhatsAppConfigChanged(
            user_id=user_id, phone_number_id=number_id, display_phone_number="+1", is_active=True
        )
    )
    outbox = Outbox(gateway_outbox, make_sessionmaker(engine), broker)
    run = uuid.uuid4().hex[:10]
    message, echo_id = _message(f"wamid.m{run}", "+33612340001"), f"wamid.e{run}"
    echo = Echo(echo_id, number_id, "+33612340002", "text")

    async def rows() -> tuple[list[str], list[str]]:
        async with engine.connect() as connection:
            kept = await connection.execute(
                select(inbound_messages.c.message_id).where(
                    inbound_messages.c.message_id.in_([message.message_id, echo_id])
                )
            )
            staged = await connection.execute(
                select(gateway_outbox.c.topic).where(gateway_outbox.c.payload.contains(run))
            )
            return sorted(kept.scalars()), sorted(staged.scalars())

    failed = DeliveryStatusReported(
        channel=Channel.WHATSAPP,
        provider_message_id=f"wamid.out{run}",
        status="failed",
        errors=[{"code": 131047}],
        reason="window_closed",
    )
    delivery = ProviderDelivery([message], receipts=[failed], echoes=[echo])
    labels = {"channel": "whatsapp", "status": "failed", "reason": "window_closed"}

    def counted() -> float:
        value = REGISTRY.get_sample_value("gateway_delivery_statuses_total", labels)
        return value or 0.0

    before = counted()
    try:
        failing = InboundStore(outbox, FailingEchoes(directory, settings), Statements(engine))
        with pytest.raises(ConnectionResetError):
            await failing.accept_provider_delivery(delivery)
        after_failure, counted_after_failure = await rows(), counted()
        store = InboundStore(outbox, EchoRecorder(directory, settings), Statements(engine))
        accepted = await store.accept_provider_delivery(delivery)
        again = await store.accept_provider_delivery(delivery)
        after_success = await rows()
    finally:
        await broker.stop()
        await engine.dispose()

    assert after_failure == ([], [])  # nothing of the delivery was kept: Meta redelivers it
    assert (accepted.published, again.published, again.duplicates) == (2, 0, 1)
    assert after_success == (
        sorted([message.message_id, echo_id]),
        sorted([MESSAGES_RECEIVED.name, MESSAGE_DELIVERIES.name, CONVERSATION_OWNERS.name]),
    )
    # counted once it committed, and once only: not for the rolled-back try, not for the repeat
    assert (counted_after_failure, counted()) == (before, before + 1)


async def test_one_statement_writes_each_row_once_and_stages_in_delivery_order(
    bootstrapped: dict[str, str],
) -> None:
    """The batch path without echoes: a message or receipt twice in one batch is new for its
    first delivery only, a recorded message is not staged, and the outbox rows follow the
    deliveries' order (the order they are published in)."""
    engine = make_engine(bootstrapped["DATABASE_URL"])
    db = Statements(engine)
    run = uuid.uuid4().hex[:10]
    a, b, c, out = f"wamid.a{run}", f"wamid.b{run}", f"wamid.c{run}", f"wamid.out{run}"
    batch = [
        ProviderDelivery([_message(a, "+33612340001"), _message(b, "+33612340002")]),
        ProviderDelivery(
            [_message(a, "+33612340001")],
            [(c, Channel.WHATSAPP, "image")],
            receipts=[_receipt(out), _receipt(out)],
        ),
        ProviderDelivery([_message(c, "+33612340003")], receipts=[_receipt(out)]),
    ]
    try:
        accepted, staged = await accept_rows(db, batch)
        again, staged_again = await accept_rows(db, batch)
        async with engine.connect() as connection:
            kept = await connection.execute(
                select(inbound_messages.c.message_id, inbound_messages.c.answered).where(
                    inbound_messages.c.message_id.in_([a, b, c])
                )
            )
            rows = sorted((row.message_id, row.answered) for row in kept)
    finally:
        await engine.dispose()

    assert [(x.published, x.duplicates, len(x.statuses)) for x in accepted] == [
        (2, 0, 0),
        (1, 1, 1),
        (0, 1, 0),
    ]
    assert [(e.topic, run in e.payload) for e in staged] == [
        (MESSAGES_RECEIVED.name, True),
        (MESSAGES_RECEIVED.name, True),
        (MESSAGE_DELIVERIES.name, True),
    ]
    assert [a in staged[0].payload, b in staged[1].payload, out in staged[2].payload] == [True] * 3
    assert [e.id for e in staged] == sorted(e.id for e in staged)
    assert [(x.published, x.duplicates) for x in again] == [(0, 2), (0, 2), (0, 1)]
    assert staged_again == []
    assert rows == [(a, True), (b, True), (c, False)]
