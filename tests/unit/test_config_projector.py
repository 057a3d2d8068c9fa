"""The projection's batch handler with an in-memory store: one write per batch, a database
outage defers every record (never parks it), a refused row is found alone and parked, and
a record that is not an event is refused by the parse function (the consumer parks it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.exc import DataError, OperationalError

from services.config.domain.projection import ProjectedEvent, UnreadableEvent
from services.config.entrypoints.projector import ProjectMessageEvents, parse_message_event
from shared.consumer import BatchResult
from shared.contracts.messages import Channel, MessageReceived
from tests.support.seams import received


class FakeStore:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.writes: list[list[ProjectedEvent]] = []

    async def record_many(self, events: Sequence[ProjectedEvent]) -> None:
        if self.error is not None:
            raise self.error
        self.writes.append(list(events))


def _event(n: int) -> ProjectedEvent:
    return ProjectedEvent(
        event_id=uuid.uuid4(),
        event_type="MessageReceived",
        service="gateway",
        topic="messages.received.v1",
        message_id=f"m-{n}",
        attempt=1,
        user_id=None,
        provider_message_id=None,
        occurred_at=datetime.now(UTC),
        trace_id=None,
        summary={"channel": "api"},
    )


def _kinds(result: BatchResult | None, count: int) -> list[str]:
    assert result is not None
    assert len(result.verdicts) == count
    return sorted(verdict.kind for verdict in result.verdicts.values())


async def test_a_batch_is_one_write_of_every_event() -> None:
    store = FakeStore()
    batch = [received(_event(n), key=f"api:-:+3360000000{n}") for n in range(5)]

    result = await ProjectMessageEvents(store)(batch)

    assert result is None  # every record done
    assert store.writes == [[item.event for item in batch]]


async def test_a_database_outage_defers_the_whole_batch_and_parks_nothing() -> None:
    outage = OperationalError("insert", {}, ConnectionRefusedError("connection refused"))
    batch = [received(_event(n), key=f"api:-:+3360000000{n}") for n in range(3)]

    result = await ProjectMessageEvents(FakeStore(outage))(batch)

    assert _kinds(result, 3) == ["retry"] * 3


async def test_a_refused_row_is_looked_for_alone_and_then_parked() -> None:
    refusal = DataError("insert", {}, ValueError("unsupported Unicode escape sequence"))
    handler = ProjectMessageEvents(FakeStore(refusal))
    batch = [received(_event(n), key=f"api:-:+3360000000{n}") for n in range(2)]

    with pytest.raises(DataError):  # the consumer then hands each record alone
        await handler(batch)
    result = await handler(batch[:1])

    assert _kinds(result, 1) == ["park"]
    assert result is not None
    [verdict] = result.verdicts.values()
    assert verdict.reason.startswith("refused by the database: DataError")
    assert "[SQL" not in verdict.reason


def _record(value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord(
        topic="messages.received.v1",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=b"api:-:+33600000001",
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(),
    )


def test_parse_reads_an_event_and_refuses_anything_else() -> None:
    event = MessageReceived(
        message_id="m-1",
        conversation_key="api:-:+33600000001",
        channel=Channel.API,
        source="whatsapp",
        customer_phone="+33600000001",
        business_phone=None,
        text="hi",
        received_at="2026-01-01T00:00:00Z",
    )
    parsed = parse_message_event(_record(event.model_dump_json().encode()))
    assert (parsed.event_id, parsed.message_id) == (event.event_id, "m-1")
    for junk in (b"not json", b"{}", None):
        with pytest.raises(UnreadableEvent):
            parse_message_event(_record(junk))
