"""The hostile requests that answered 500 (issue 13), against the running gateway."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from shared.contracts.topics import MESSAGES_RECEIVED
from tests.conftest import WHATSAPP_APP_SECRET
from tests.support.db import rows
from tests.support.hostile import stored_markers, twilio_tenant, whatsapp_tenant
from tests.support.kafka import end_offsets
from tests.support.providers import meta_signature, twilio_signature, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


async def _chatbot(stack: Stack, content: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {stack.gateway_key}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        return await client.post("/api-chatbot", content=content, headers=headers)


async def _whatsapp(stack: Stack, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        return await client.post("/webhooks/whatsapp", content=body, headers=headers)


def _deep(levels: int, inner: bytes = b"1") -> bytes:
    return b"[" * levels + inner + b"]" * levels


async def test_deep_and_undecodable_chatbot_bodies_are_client_errors(stack: Stack) -> None:
    kafka = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    before = await end_offsets(kafka, MESSAGES_RECEIVED.name)
    marker = uuid.uuid4().hex
    fields = f'"source": "s", "phoneNumber": "+14155550100", "messageId": "{marker}-'.encode()
    cases = [
        (_deep(30_000), 400),
        (b'{"text": ' + _deep(20_000, b'"x"') + b", " + fields + b'1"}', 400),
        (b'{"text": "a\\ud800b", ' + fields + b'2"}', 422),
        (b'{"text": "a\\u0000b", ' + fields + b'3"}', 422),
        (b'{"text": "a\xffb", ' + fields + b'4"}', 400),
        (b'{"text": "a\xed\xa0\x80b", ' + fields + b'5"}', 400),  # a UTF-8-encoded surrogate
        (b'{"text": NaN, ' + fields + b'6"}', 400),
        (b'{"text": ' + b"9" * 5000 + b", " + fields + b'7"}', 400),
        (b'{"text": {"nested": ["x"]}, ' + fields + b'8"}', 422),
    ]
    for content, status in cases:
        response = await _chatbot(stack, content)
        assert response.status_code == status, (content[:50], response.text)
        body = response.json()
        assert body["success"] is False and body["retryable"] is False
        assert isinstance(body["error"], str) and body["error"]

    assert await stored_markers(stack, [marker]) == []
    assert await end_offsets(kafka, MESSAGES_RECEIVED.name) == before


async def test_deep_webhooks_are_refused_and_unsigned_ones_before_any_parse(stack: Stack) -> None:
    kafka = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    before = await end_offsets(kafka, MESSAGES_RECEIVED.name)
    deep = _deep(1_000_000)

    unsigned = await _whatsapp(stack, deep, None)
    forged = await _whatsapp(stack, deep, "sha256=" + "0" * 64)
    signed = await _whatsapp(stack, deep, meta_signature(deep, WHATSAPP_APP_SECRET))

    assert (unsigned.status_code, forged.status_code) == (401, 401)
    assert signed.status_code == 400
    assert signed.json() == {"success": False, "error": "JSON nested deeper than 32 levels"}
    assert await end_offsets(kafka, MESSAGES_RECEIVED.name) == before


async def _answered_text(stack: Stack, customer: str, timeout: float = 30) -> str:
    """The user message the model was given for this customer's conversation."""
    deadline = time.monotonic() + timeout
    while True:
        for request in await stack.groq_requests():
            messages: list[dict[str, Any]] = request["body"].get("messages", [])
            users = [m["content"] for m in messages if m.get("role") == "user"]
            if users and customer in json.dumps(request["body"]):
                return str(users[-1])
        if time.monotonic() > deadline:
            raise AssertionError(f"no model call for {customer}")
        await asyncio.sleep(0.1)


async def test_signed_text_that_cannot_be_stored_as_is_is_stored_with_replacements(
    stack: Stack,
) -> None:
    """Meta redelivers anything but a 2xx for 7 days: a signed message is taken, its lone
    surrogates, NUL and undecodable bytes replaced with U+FFFD, and answered."""
    tenant = await whatsapp_tenant(stack)
    for text, expected in (
        (b"caf\\ud800 ok", "caf\ufffd ok"),
        (b"nul\\u0000 ok", "nul\ufffd ok"),
        (b"bytes \xff\xfe ok", "bytes \ufffd\ufffd ok"),
        (b"pair \\ud83d\\ude00 ok", "pair \U0001f600 ok"),
    ):
        customer, message_id = random_number(), wamid()
        template = whatsapp_payload(
            tenant.number_id,
            tenant.number,
            [{"from": customer[1:], "id": message_id, "type": "text", "text": {"body": "TEXT"}}],
        )
        body = template.replace(b'"TEXT"', b'"' + text + b" " + customer.encode() + b'"')

        response = await _whatsapp(stack, body, meta_signature(body, tenant.secret))

        assert response.status_code == 200, response.text
        assert await _answered_text(stack, customer) == f"{expected} {customer}"
        [stored] = await rows(
            stack.database_url,
            "select kind, answered from inbound_messages where message_id = :m",
            m=message_id,
        )
        assert (stored["kind"], stored["answered"]) == ("text", True)


async def test_a_number_id_hidden_behind_escapes_still_needs_its_owners_signature(
    stack: Stack,
) -> None:
    """The secret is chosen before parsing, from the ids written plainly; an id the parse
    finds that way could not (`\\u0050N…` for `PN…`) is checked after the parse."""
    tenant = await whatsapp_tenant(stack)
    customer = random_number()
    message = {"from": customer[1:], "id": wamid(), "type": "text", "text": {"body": "hidden"}}
    plain = whatsapp_payload(tenant.number_id, tenant.number, [message])
    escaped = plain.replace(
        f'"phone_number_id": "{tenant.number_id}"'.encode(),
        b'"phone_number_id": "\\u0050' + tenant.number_id[1:].encode() + b'"',
    )
    assert escaped != plain

    global_signed = await _whatsapp(stack, escaped, meta_signature(escaped, WHATSAPP_APP_SECRET))
    owner_signed = await _whatsapp(stack, escaped, meta_signature(escaped, tenant.secret))

    assert global_signed.status_code == 401
    # the owner's secret is not tried before the parse (the regex saw no number: global
    # secret), so the owner's own signature on such a body is refused too: Meta never escapes
    # ASCII, and refusing errs on the safe side
    assert owner_signed.status_code == 401


async def test_twilio_host_headers_that_are_no_url_are_refused(stack: Stack) -> None:
    tenant = await twilio_tenant(stack)
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": random_number(), "To": tenant.number}
    signature = twilio_signature(tenant.token, "http://x/webhooks/twilio", params)
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        for host in ("bad:port", "[", "h:99999"):
            response = await client.post(
                "/webhooks/twilio",
                data={**params, "Body": "x"},
                headers={"x-twilio-signature": signature, "x-forwarded-host": host},
            )
            assert response.status_code == 403, host
