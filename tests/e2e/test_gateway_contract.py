"""The api-chatbot endpoint's contract: auth, validation, idempotency, failure mapping."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from shared.contracts.topics import MESSAGES_RECEIVED
from tests.support.db import rows
from tests.support.kafka import end_offsets
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

TRANSIENT = {
    "success": False,
    "error": "Failed to process message. Please try again.",
    "retryable": True,
}


async def _post_raw(stack: Stack, content: bytes, key: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        return await client.post("/functions/v1/api-chatbot", content=content, headers=headers)


async def test_bad_input_gets_a_clear_error_and_publishes_nothing(stack: Stack) -> None:
    kafka = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    before = await end_offsets(kafka, MESSAGES_RECEIVED.name)
    outbox_before = await rows(stack.database_url, "select count(*) as n from gateway_outbox")
    good = b'{"text": "hi", "source": "whatsapp", "phoneNumber": "+14155550100"}'
    cases = [
        (b"{not json", stack.gateway_key, 400),
        (b"[1, 2]", stack.gateway_key, 400),
        (
            b'{"text": "", "source": "whatsapp", "phoneNumber": "+14155550100"}',
            stack.gateway_key,
            422,
        ),
        (
            b'{"text": "   ", "source": "whatsapp", "phoneNumber": "+14155550100"}',
            stack.gateway_key,
            422,
        ),
        (b'{"text": "hi", "source": "whatsapp"}', stack.gateway_key, 422),
        (
            b'{"text": 5, "source": "whatsapp", "phoneNumber": "+14155550100"}',
            stack.gateway_key,
            422,
        ),
        (
            b'{"text": "' + b"x" * (1024 * 1024) + b'", "source": "s", "phoneNumber": "+1"}',
            stack.gateway_key,
            413,
        ),
        (good, "wrong-key", 401),
        (good, None, 401),
    ]
    for content, key, status in cases:
        response = await _post_raw(stack, content, key)
        assert response.status_code == status, (content[:60], response.text)
        body = response.json()
        assert body["success"] is False
        assert body["retryable"] is False
        assert isinstance(body["error"], str) and body["error"]
        assert stack.gateway_key not in response.text

    assert await end_offsets(kafka, MESSAGES_RECEIVED.name) == before
    assert (
        await rows(stack.database_url, "select count(*) as n from gateway_outbox") == outbox_before
    )


async def test_second_key_is_accepted(stack: Stack) -> None:
    response = await _post_raw(stack, b"{}", "second-key")
    assert response.status_code == 422


async def test_message_id_makes_the_call_idempotent(stack: Stack) -> None:
    key = f"gsk_idem_{uuid.uuid4().hex}"
    _, number = await stack.new_tenant(key)
    message_id = f"client-{uuid.uuid4()}"
    text = f"idempotent {uuid.uuid4()}"

    answers = await asyncio.gather(
        *(stack.chat(number, text, message_id=message_id) for _ in range(5))
    )

    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["response"] for a in answers}) == 1
    assert {a.json()["messageId"] for a in answers} == {message_id}
    assert len([r for r in await stack.groq_requests() if text in str(r["body"])]) == 1
    stored = await rows(
        stack.database_url,
        "select sender from customer_conversations where message_id = :m order by sender",
        m=message_id,
    )
    assert [r["sender"] for r in stored] == ["bot", "user"]

    reused = await stack.chat(number, "a different message", message_id=message_id)
    assert reused.status_code == 409
    assert reused.json()["retryable"] is False


async def test_groq_refusing_the_key_is_a_config_problem(stack: Stack) -> None:
    _, number = await stack.new_tenant(f"gsk_revoked_{uuid.uuid4().hex}")
    await stack.groq_control("/_fake/fail", {"status": 401, "times": 1})

    response = await stack.chat(number, f"revoked {uuid.uuid4()}")

    assert response.status_code == 503
    assert response.json()["configRequired"] is True
    assert response.json()["retryable"] is False


async def test_groq_outage_is_retryable_and_a_retry_is_answered(stack: Stack) -> None:
    _, number = await stack.new_tenant(f"gsk_outage_{uuid.uuid4().hex}")
    message_id = f"retry-{uuid.uuid4()}"
    text = f"outage {uuid.uuid4()}"
    await stack.groq_control("/_fake/fail", {"status": 500, "times": 1})

    failed = await stack.chat(number, text, message_id=message_id)
    assert failed.status_code == 503
    assert failed.json() == TRANSIENT

    retried = await stack.chat(number, text, message_id=message_id)
    assert retried.status_code == 200, retried.text
    assert text in retried.json()["response"]
