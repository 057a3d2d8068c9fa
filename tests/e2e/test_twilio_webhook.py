"""Twilio webhooks in, replies out through the (fake) Twilio Messages API."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.providers import twilio_signature
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


async def _twilio_tenant(stack: Stack) -> tuple[str, str, str]:
    user_id, number = uuid.uuid4(), random_number()
    sid, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    body = {"account_sid": sid, "auth_token": token, "phone_number": number}
    response = await stack.config_call("PUT", "/v1/me/twilio-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    assert token not in response.text
    await stack.put_groq(user_id, f"gsk_tw_{uuid.uuid4().hex}")
    return number, sid, token


async def _post(stack: Stack, params: dict[str, str], signature: str | None) -> httpx.Response:
    headers = {"x-twilio-signature": signature} if signature else {}
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        return await client.post("/webhooks/twilio", data=params, headers=headers)


async def _sent_to(
    stack: Stack, customer: str, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        sent = [
            r
            for r in await stack.fake_requests(stack.fake_twilio)
            if r["body"].get("To") == customer
        ]
        if len(sent) >= count or time.monotonic() > deadline:
            return sent
        await asyncio.sleep(0.1)


async def test_signed_message_is_answered_once_even_when_repeated(stack: Stack) -> None:
    number, sid, token = await _twilio_tenant(stack)
    customer = random_number()
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": sid,
        "From": f"whatsapp:{customer}",
        "To": f"whatsapp:{number}",
        "Body": f"hola {uuid.uuid4()}",
        "NumMedia": "0",
    }
    url = f"{stack.gateway.url}/webhooks/twilio"
    signature = twilio_signature(token, url, params)

    answers = [await _post(stack, params, signature) for _ in range(3)]

    assert [a.status_code for a in answers] == [200] * 3
    assert "<Response>" in answers[0].text
    [sent] = await _sent_to(stack, f"whatsapp:{customer}", 1)
    assert sent["body"]["From"] == f"whatsapp:{number}"
    assert sent["body"]["account_sid"] == sid
    assert params["Body"] in sent["body"]["Body"]
    await asyncio.sleep(1.0)
    assert len(await _sent_to(stack, f"whatsapp:{customer}", 1, timeout=0)) == 1


async def test_invalid_or_missing_signature_is_403(stack: Stack) -> None:
    number, _, token = await _twilio_tenant(stack)
    customer = random_number()
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": customer, "To": number, "Body": "x"}
    url = f"{stack.gateway.url}/webhooks/twilio"

    assert (await _post(stack, params, None)).status_code == 403
    assert (await _post(stack, params, twilio_signature("wrong", url, params))).status_code == 403
    forged = twilio_signature(token, url, {**params, "Body": "something else"})
    assert (await _post(stack, params, forged)).status_code == 403
    await asyncio.sleep(0.5)
    assert not await _sent_to(stack, customer, 1, timeout=0)


async def test_the_signed_public_url_is_honoured_behind_a_proxy(stack: Stack) -> None:
    number, _, token = await _twilio_tenant(stack)
    customer = random_number()
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": customer, "To": number, "Body": "sms"}
    public = "https://bot.example.com/webhooks/twilio"
    headers = {
        "x-twilio-signature": twilio_signature(token, public, params),
        "x-forwarded-proto": "https",
        "x-forwarded-host": "bot.example.com",
    }
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        response = await client.post("/webhooks/twilio", data=params, headers=headers)
    assert response.status_code == 200
    [sent] = await _sent_to(stack, customer, 1)
    assert sent["body"]["From"] == number  # SMS: no whatsapp: prefix
