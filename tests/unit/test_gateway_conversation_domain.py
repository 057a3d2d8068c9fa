"""The gateway's pure conversation rules: the 24-hour window, Meta's error codes, the
per-number gate, and business echoes read from a webhook body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.domain.delivery_errors import (
    ErrorKind,
    classify_code,
    error_code,
    status_reason,
)
from services.gateway.domain.echoes import echoes_in, human_takes_over
from services.gateway.domain.pacing import NumberGate, back_off_delay
from services.gateway.domain.whatsapp import parse_delivery
from services.gateway.domain.window import has_window, last_seen, parse_time, window_closed
from shared.contracts.conversations import ConversationOwner, OwnerChangedBy
from shared.contracts.messages import Channel, ConfigSource, ResponseGenerated

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _reply(channel: Channel = Channel.WHATSAPP, source: str = "whatsapp", **kw: Any) -> Any:
    return ResponseGenerated(
        message_id="m1",
        conversation_key="k",
        user_id=None,
        channel=channel,
        source=source,
        customer_phone="+33612345678",
        response="hi",
        config_source=ConfigSource.USER,
        model="m",
        **kw,
    )


def test_the_window_closes_24_hours_after_the_customers_last_message() -> None:
    assert not window_closed(NOW - timedelta(hours=23, minutes=59), NOW)
    assert window_closed(NOW - timedelta(hours=24), NOW)
    assert not window_closed(None, NOW)  # unknown: sent as before


def test_last_seen_prefers_the_responders_time_then_the_gateways() -> None:
    accepted = NOW - timedelta(hours=2)
    told = _reply(customer_last_seen_at=(NOW - timedelta(hours=30)).isoformat())
    assert last_seen(told, accepted) == NOW - timedelta(hours=30)
    assert last_seen(_reply(), accepted) == accepted
    assert last_seen(_reply(customer_last_seen_at="not a time"), None) is None
    assert parse_time("2026-12-03T12:00:00") == NOW  # no zone: UTC


def test_only_whatsapp_replies_have_a_window() -> None:
    assert has_window(_reply())
    assert has_window(_reply(Channel.TWILIO, "whatsapp"))
    assert not has_window(_reply(Channel.TWILIO, "sms"))


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (131026, ErrorKind.FINAL, "undeliverable"),
        (131051, ErrorKind.FINAL, "unsupported_type"),
        (130429, ErrorKind.BACK_OFF, "throughput_exceeded"),
        (131056, ErrorKind.PACE, "pair_rate_limited"),
        (190, ErrorKind.TENANT_ACTION, "token_expired"),
        (131047, ErrorKind.TENANT_ACTION, "window_closed"),
        (63016, ErrorKind.TENANT_ACTION, "window_closed"),
        (131000, ErrorKind.TRANSIENT, "provider_unavailable"),
    ],
)
def test_meta_codes_are_classified_as_documented(code: int, kind: ErrorKind, reason: str) -> None:
    known = classify_code(code)
    assert known is not None and (known.kind, known.reason) == (kind, reason)
    assert known.retryable == (kind in (ErrorKind.BACK_OFF, ErrorKind.PACE, ErrorKind.TRANSIENT))


def test_error_codes_are_read_from_graph_and_twilio_bodies_only() -> None:
    assert error_code({"error": {"code": 130429, "message": "Rate limit hit"}}) == 130429
    assert error_code({"code": 63016, "message": "outside the window"}) == 63016
    assert error_code({"error": {"code": "131026"}}) == 131026
    bodies: list[Any] = [None, [], "x", {"error": "x"}, {"error": {"code": True}}, {"code": 1.5}]
    for junk in bodies:
        assert error_code(junk) is None
    assert classify_code(None) is None and classify_code(999999) is None


def test_a_failed_status_carries_its_reason_others_none() -> None:
    assert status_reason("failed", [{"code": 131026, "title": "x"}]) == "undeliverable"
    assert status_reason("failed", [{"code": 131047}]) == "window_closed"
    assert status_reason("failed", [{"code": 42}]) == "provider_rejected"
    assert status_reason("failed", [{"code": "junk"}, {"code": 190}]) == "token_expired"
    for status in ("sent", "delivered", "read", "unknown"):
        assert status_reason(status, []) is None


def test_the_gate_lets_a_seconds_burst_through_then_spaces_sends() -> None:
    gate = NumberGate(rate_per_s=2)
    assert gate.wait("n1", 10.0) == 0 and gate.wait("n1", 10.0) == 0
    assert gate.wait("n1", 10.0) == pytest.approx(0.5)
    assert gate.wait("n2", 10.0) == 0  # numbers are independent
    assert gate.wait("n1", 10.5) == 0


def test_a_hold_stops_every_send_of_the_number_until_it_passes() -> None:
    gate = NumberGate(rate_per_s=0)  # no rate of our own
    gate.hold("n1", 10.0, 4.0)
    assert gate.wait("n1", 11.0) == pytest.approx(3.0)
    assert gate.wait("n2", 11.0) == 0
    gate.forget_idle(20.0)
    assert gate.wait("n1", 20.0) == 0
    assert back_off_delay(1) == 1.0 and back_off_delay(3) == 4.0 and back_off_delay(30) == 60.0
    assert back_off_delay(1, retry_after=7) == 7.0


def _echo_body(echoes: Any, field: str = "smb_message_echoes") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": field,
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "14155550101",
                                "phone_number_id": "PN1",
                            },
                            "message_echoes": echoes,
                        },
                    }
                ],
            }
        ],
    }


def test_echoes_are_read_and_bad_ones_skipped() -> None:
    good = {"from": "14155550101", "to": "33612345678", "id": "wamid.E1", "type": "text"}
    body = _echo_body([good, {"to": "33612345678"}, "junk", {"id": "wamid.E2"}, None])
    [echo] = echoes_in(body)
    assert (echo.wamid, echo.phone_number_id, echo.customer) == ("wamid.E1", "PN1", "+33612345678")
    assert echo.conversation_key == "whatsapp:PN1:+33612345678"
    assert echoes_in(_echo_body([good], field="messages")) == []
    junk_bodies: list[Any] = [
        None,
        [],
        {"entry": "x"},
        {"entry": [{"changes": [{"field": "smb_message_echoes"}]}]},
    ]
    for junk in junk_bodies:
        assert echoes_in(junk) == []
    assert echoes_in(_echo_body("not a list")) == []


def test_an_echo_hands_the_conversation_to_a_human_until_the_expiry() -> None:
    [echo] = echoes_in(_echo_body([{"to": "+33612345678", "id": "wamid.E1"}]))
    user_id = uuid.uuid4()
    change = human_takes_over(echo, user_id, NOW, human_expiry_s=3600)
    assert change.owner is ConversationOwner.HUMAN
    assert change.changed_by is OwnerChangedBy.BUSINESS_ECHO
    assert change.until == NOW + timedelta(hours=1)
    assert (change.message_id, change.conversation_key) == ("wamid.E1", echo.conversation_key)


def test_statuses_of_unexpected_shapes_are_ignored_not_refused() -> None:
    def body(statuses: Any) -> dict[str, Any]:
        value = {"metadata": {"phone_number_id": "PN1"}, "statuses": statuses}
        return {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}

    assert parse_delivery(body("not a list")).statuses == []
    [receipt] = parse_delivery(
        body([{"id": "wamid.S", "status": "failed", "errors": "junk"}, 7, {"status": "read"}])
    ).statuses
    assert (receipt.wamid, receipt.status, receipt.errors) == ("wamid.S", "failed", [])
    assert status_reason(receipt.status, receipt.errors) == "provider_rejected"
