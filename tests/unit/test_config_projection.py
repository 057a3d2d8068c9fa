"""The message-event projection: what a record becomes (pure, no broker or database)."""

from __future__ import annotations

import json
import uuid

import pytest

from services.config.domain.projection import UnreadableEvent, project, trace_id_from
from shared.contracts.deliveries import DeliveryStatusReported, ReplyDelivered
from shared.contracts.messages import (
    Channel,
    ConfigSource,
    IdentifiedBy,
    MessageReceived,
    ResponseGenerated,
    UserIdentified,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS = [("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode())]


def _received(text: str = "hello there") -> MessageReceived:
    return MessageReceived(
        message_id="m-1",
        conversation_key="api:+14155550100:+14155550199",
        channel=Channel.API,
        source="whatsapp",
        customer_phone="+14155550199",
        business_phone="+14155550100",
        text=text,
        received_at="2026-11-26T09:00:00Z",
    )


def _identified(user_id: uuid.UUID | None) -> UserIdentified:
    return UserIdentified(
        **_received("secret plans").model_dump(exclude={"event_id", "event_type", "occurred_at"}),
        user_id=user_id,
        identified_by=IdentifiedBy.WHATSAPP_CONFIG if user_id else IdentifiedBy.NONE,
    )


def test_received_keeps_ids_service_trace_and_no_text() -> None:
    event = _received()
    row = project("messages.received.v1", event.model_dump_json().encode(), HEADERS)

    assert (row.event_id, row.event_type, row.service) == (
        event.event_id,
        "MessageReceived",
        "gateway",
    )
    assert (row.message_id, row.attempt, row.trace_id) == ("m-1", 1, TRACE)
    assert row.occurred_at == event.occurred_at
    assert row.summary["text_length"] == len("hello there")
    assert "hello there" not in json.dumps(row.summary)


def test_text_is_kept_only_for_messages_without_a_tenant() -> None:
    tenant = uuid.uuid4()
    known = project("messages.identified.v1", _identified(tenant).model_dump_json().encode(), [])
    unknown = project("messages.identified.v1", _identified(None).model_dump_json().encode(), [])

    assert known.user_id == tenant and known.service == "identity"
    assert "text" not in known.summary
    assert unknown.user_id is None
    assert unknown.summary["text"] == "secret plans"
    assert unknown.summary["customer_phone"] == "+14155550199"
    assert known.trace_id is None  # no traceparent header


def test_outcome_summary_has_model_and_sizes_not_the_reply() -> None:
    event = ResponseGenerated(
        message_id="m-1",
        conversation_key="k",
        user_id=None,
        channel=Channel.API,
        customer_phone="+1",
        response="the whole answer",
        config_source=ConfigSource.FALLBACK,
        model="llama-3.1-8b-instant",
        prompt_tokens=12,
    )
    row = project("messages.outcomes.v1", event.model_dump_json().encode(), HEADERS)

    assert row.service == "responder"
    assert row.summary == {
        "channel": "api",
        "config_source": "fallback",
        "model": "llama-3.1-8b-instant",
        "prompt_tokens": 12,
        "response_length": len("the whole answer"),
    }


def test_deliveries_and_receipts_link_through_provider_ids() -> None:
    delivered = ReplyDelivered(
        message_id="wamid.in",
        conversation_key="k",
        user_id=None,
        channel=Channel.WHATSAPP,
        provider_message_ids=["wamid.out1", "wamid.out2"],
        parts=2,
    )
    receipt = DeliveryStatusReported(
        channel=Channel.WHATSAPP,
        provider_message_id="wamid.out1",
        status="failed",
        errors=[{"code": 131026, "title": "Message undeliverable"}],
    )
    sent = project("messages.deliveries.v1", delivered.model_dump_json().encode(), [])
    seen = project("messages.deliveries.v1", receipt.model_dump_json().encode(), [])

    assert sent.summary["provider_message_ids"] == ["wamid.out1", "wamid.out2"]
    assert sent.provider_message_id is None
    assert (seen.message_id, seen.provider_message_id) == (None, "wamid.out1")
    assert seen.summary == {"channel": "whatsapp", "status": "failed", "error_codes": [131026]}


@pytest.mark.parametrize(
    "value",
    [b"", b"not json", b"[1, 2]", b'{"event_type": "X"}', b'{"event_id": "nope"}', None],
)
def test_unreadable_records_are_refused(value: bytes | None) -> None:
    with pytest.raises(UnreadableEvent):
        project("messages.received.v1", value, [])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01", TRACE),
        (f"00-{TRACE.upper()}-00F067AA0BA902B7-01", TRACE),
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None),
        ("garbage", None),
    ],
)
def test_trace_id_comes_from_a_valid_traceparent(header: str, expected: str | None) -> None:
    assert trace_id_from([("content-type", b"json"), ("traceparent", header.encode())]) == expected
