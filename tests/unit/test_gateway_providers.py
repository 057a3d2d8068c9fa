"""The provider client over an in-process HTTP transport: the bodies Meta and Twilio
document (read + typing in one call, templates, Twilio's typing resource), and refusals
classified by Meta's error code rather than by the HTTP status."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from services.gateway.adapters.providers import ProviderClient, ProviderError


def _client(answer: httpx.Response, seen: list[httpx.Request]) -> ProviderClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return ProviderClient(httpx.AsyncClient(transport=httpx.MockTransport(handle)))


async def test_read_and_typing_go_in_one_graph_call() -> None:
    seen: list[httpx.Request] = []
    client = _client(httpx.Response(200, json={"success": True}), seen)

    await client.whatsapp_read("http://graph/", "v21.0", "PN1", "tok", "wamid.1", typing=True)
    await client.whatsapp_read("http://graph", "v21.0", "PN1", "tok", "wamid.2", typing=False)

    assert [str(r.url) for r in seen] == ["http://graph/v21.0/PN1/messages"] * 2
    assert json.loads(seen[0].content) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.1",
        "typing_indicator": {"type": "text"},
    }
    assert "typing_indicator" not in json.loads(seen[1].content)
    assert seen[0].headers["authorization"] == "Bearer tok"


async def test_a_template_is_sent_with_its_name_and_language() -> None:
    seen: list[httpx.Request] = []
    answer = httpx.Response(200, json={"messages": [{"id": "wamid.T"}]})

    sent = await _client(answer, seen).send_whatsapp_template(
        "http://graph", "v21.0", "PN1", "tok", "33612345678", "order_follow_up", "fr"
    )

    body: dict[str, Any] = json.loads(seen[0].content)
    assert sent == "wamid.T"
    assert body["type"] == "template" and body["to"] == "33612345678"
    assert body["template"] == {"name": "order_follow_up", "language": {"code": "fr"}}


async def test_twilio_typing_uses_its_indicator_resource() -> None:
    seen: list[httpx.Request] = []
    client = _client(httpx.Response(200, json={"success": True}), seen)

    await client.twilio_typing("http://messaging", "AC1", "secret", "SM123")

    assert str(seen[0].url) == "http://messaging/v2/Indicators/Typing.json"
    assert seen[0].content == b"channel=whatsapp&messageId=SM123"
    assert seen[0].headers["authorization"].startswith("Basic ")


async def test_a_twilio_send_asks_for_its_statuses_when_a_callback_is_set() -> None:
    seen: list[httpx.Request] = []
    client = _client(httpx.Response(201, json={"sid": "SMx"}), seen)
    callback = "https://gw.example/webhooks/twilio/status"

    sid = await client.send_twilio_message(
        "http://twilio", "AC1", "secret", "whatsapp:+1", "whatsapp:+2", "hi", callback
    )
    await client.send_twilio_message("http://twilio", "AC1", "secret", "+1", "+2", "hi")

    assert sid == "SMx"
    assert dict(parse_qsl(seen[0].content.decode()))["StatusCallback"] == callback
    assert "StatusCallback" not in dict(parse_qsl(seen[1].content.decode()))


@pytest.mark.parametrize(
    ("status", "code", "reason", "retryable"),
    [
        (400, 130429, "throughput_exceeded", True),
        (429, 130429, "throughput_exceeded", True),
        (400, 131056, "pair_rate_limited", True),
        (400, 131026, "undeliverable", False),
        (401, 190, "token_expired", False),
        (400, 131047, "window_closed", False),
        (500, 131000, "provider_unavailable", True),
        (400, 100, "provider_rejected", False),  # a code we do not classify
        (503, None, "provider_unavailable", True),
    ],
)
async def test_refusals_are_classified_by_meta_code(
    status: int, code: int | None, reason: str, retryable: bool
) -> None:
    error = {"error": {"message": "x", "code": code}} if code is not None else {"error": {}}
    client = _client(httpx.Response(status, json=error, headers={"retry-after": "3"}), [])

    with pytest.raises(ProviderError) as raised:
        await client.send_whatsapp_text("http://graph", "v21.0", "PN1", "tok", "336", "hi")

    failure = raised.value.failure
    assert (failure.reason, failure.code, failure.status_code) == (reason, code, status)
    assert failure.retryable is retryable
    assert "tok" not in failure.detail


@pytest.mark.parametrize(
    ("code", "reason", "retryable"),
    [
        (20429, "throughput_exceeded", True),
        (63018, "throughput_exceeded", True),
        (21610, "recipient_unsubscribed", False),
        (21614, "not_a_mobile_number", False),
        (63016, "window_closed", False),
    ],
)
async def test_twilio_refusals_are_classified_by_twilio_code(
    code: int, reason: str, retryable: bool
) -> None:
    answer = httpx.Response(400, json={"code": code, "message": "x", "status": 400})

    with pytest.raises(ProviderError) as raised:
        await _client(answer, []).send_twilio_message("http://t", "AC1", "s", "+1", "+2", "hi")

    assert (raised.value.failure.reason, raised.value.failure.retryable) == (reason, retryable)
