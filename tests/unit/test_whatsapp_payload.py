from __future__ import annotations

import json

import pytest

from services.gateway.domain.whatsapp import (
    PayloadError,
    parse_delivery,
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
    assert [texts[k] for k in ("n", "a", "r", "l", "u")] == [None] * 5
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
