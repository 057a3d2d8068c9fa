from __future__ import annotations

import json

import pytest

from services.gateway.domain.whatsapp import (
    PayloadError,
    parse_delivery,
    phone_number_ids_in,
    verify_signature,
)
from tests.support.providers import text_message, whatsapp_payload


def test_metas_published_signature_vector() -> None:
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_signature(b"Hello, World!", header, "It's a Secret to Everybody")
    assert not verify_signature(b"Hello, World!!", header, "It's a Secret to Everybody")
    assert not verify_signature(b"Hello, World!", header, "another secret")
    assert not verify_signature(b"Hello, World!", None, "It's a Secret to Everybody")
    assert not verify_signature(b"Hello, World!", header.removeprefix("sha256="), "x")


def test_types_follow_the_documented_rule() -> None:
    messages = [
        text_message("+14155550100", "hello"),
        {"from": "1", "id": "b", "type": "button", "button": {"text": "Yes", "payload": "y"}},
        {
            "from": "1",
            "id": "i",
            "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": "x", "title": "Menu A"}},
        },
        {"from": "1", "id": "c", "type": "image", "image": {"id": "m", "caption": "my receipt"}},
        {"from": "1", "id": "n", "type": "image", "image": {"id": "m"}},
        {"from": "1", "id": "a", "type": "audio", "audio": {"id": "m"}},
        {
            "from": "1",
            "id": "r",
            "type": "reaction",
            "reaction": {"message_id": "x", "emoji": "👍"},
        },
        {"from": "1", "id": "l", "type": "location", "location": {"latitude": 1, "longitude": 2}},
        {"from": "1", "id": "u", "type": "something_new"},
    ]
    delivery = parse_delivery(json.loads(whatsapp_payload("PN1", "+14155550101", messages)))
    texts = {m.wamid: m.text for m in delivery.messages}
    assert texts["b"] == "Yes" and texts["i"] == "Menu A" and texts["c"] == "my receipt"
    assert [texts[k] for k in ("n", "a")] == ["", ""]  # media: resolved by the media service
    assert [texts[k] for k in ("r", "l", "u")] == [None] * 3
    assert delivery.phone_number_ids == {"PN1"}


def test_statuses_are_read() -> None:
    statuses = [
        {"id": "wamid.out", "status": "delivered", "recipient_id": "1415", "timestamp": "1"}
    ]
    delivery = parse_delivery(json.loads(whatsapp_payload("PN1", "+1", statuses=statuses)))
    assert [(s.wamid, s.status) for s in delivery.statuses] == [("wamid.out", "delivered")]
    assert delivery.messages == []


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account", "entry": {}},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"metadata": {}}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"changes": [{"value": {"metadata": {"phone_number_id": "1"}, "messages": [{}]}}]}
            ],
        },
    ],
)
def test_malformed_payloads_are_refused(payload: object) -> None:
    with pytest.raises(PayloadError):
        parse_delivery(payload)


def test_long_replies_are_split_at_word_boundaries_within_the_limit() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    from services.gateway.domain.replies import split_text

    parts = split_text(text, 4096)
    assert len(parts) == 5  # 16,889 characters
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == text
    assert split_text("short") == ["short"]
    assert all(len(p) <= 100 for p in split_text("x" * 250, 100))


def _with_value(**value: object) -> dict[str, object]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": "PN1"}, **value}}]}],
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "whatsapp_business_account", "entry": [5]},
        {"object": "whatsapp_business_account", "entry": [{"changes": {}}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": "P" * 65}}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": ["PN1"]}}}]}],
        },
        _with_value(messages=[{"id": {"a": 1}, "from": "1"}]),
        _with_value(messages=[{"id": "w" * 257, "from": "1"}]),
        _with_value(messages=[{"id": "w", "from": "1" * 65}]),
        _with_value(messages=[{"id": "w", "from": True}]),
        _with_value(messages={"id": "w"}),
    ],
)
def test_hostile_shapes_are_payload_errors(payload: object) -> None:
    with pytest.raises(PayloadError):
        parse_delivery(payload)


def test_wrong_shapes_inside_a_message_read_as_absent() -> None:
    numbered = _with_value() | {
        "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": 42}}}, "x"]}]
    }
    assert parse_delivery(numbered).phone_number_ids == {"42"}
    delivery = parse_delivery(
        _with_value(
            messages=[
                {"id": "a", "from": 14155550100, "type": "text", "text": "not an object"},
                {"id": "b", "from": "1", "type": {"x": 1}},
                {"id": "c", "from": "1", "type": "t" * 100, "interactive": []},
            ],
            statuses=[
                {"id": "s", "status": "delivered" * 3, "recipient_id": {}, "timestamp": 17},
                {"id": ["not an id"]},
            ],
        )
    )
    assert [(m.wamid, m.customer, m.message_type, m.text) for m in delivery.messages] == [
        ("a", "14155550100", "text", None),
        ("b", "1", "unknown", None),
        ("c", "1", "t" * 32, None),
    ]
    [receipt] = delivery.statuses
    assert (receipt.status, receipt.recipient, receipt.timestamp) == (
        ("delivered" * 3)[:16],
        None,
        "17",
    )


def test_phone_number_ids_are_found_in_the_raw_body_without_parsing_it() -> None:
    raw = whatsapp_payload("PN1", "+1", statuses=[])
    assert phone_number_ids_in(raw) == {"PN1"}
    assert phone_number_ids_in(
        b'{"phone_number_id" :\n "PN2", "x": "\\"phone_number_id\\":\\"PN3\\""}'
    ) == {"PN2"}
    assert phone_number_ids_in(b'{"phone_number_id": "' + b"9" * 65 + b'"}') == set()
    assert phone_number_ids_in(b"[" * 100_000) == set()
