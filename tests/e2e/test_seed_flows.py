"""The seed's three tests and its lookup rules, against the four services as processes."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support.db import conversation_rows
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e

NOT_CONFIGURED = {
    "success": False,
    "error": "Service de messagerie non configuré. Veuillez contacter l'administrateur.",
    "retryable": False,
    "configRequired": True,
}


def _key(label: str) -> str:
    return f"gsk_{label}_{uuid.uuid4().hex}"


async def test_each_tenant_is_answered_with_its_own_key(stack: Stack) -> None:
    key_a, key_b = _key("A"), _key("B")
    user_a, number_a = await stack.new_tenant(key_a)
    user_b, number_b = await stack.new_tenant(key_b)

    for user, number, key, text in (
        (user_a, number_a, key_a, f"Hello from User A {uuid.uuid4()}"),
        (user_b, number_b, key_b, f"Hello from User B {uuid.uuid4()}"),
    ):
        response = await stack.chat(number, text)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert body["userId"] == str(user)
        assert text in body["response"]
        assert re.fullmatch(r"[0-9a-f]{32}", body["traceId"])
        seen = [r for r in await stack.groq_requests() if text in str(r["body"]["messages"])]
        assert [r["authorization"] for r in seen] == [f"Bearer {key}"]
        stored = await conversation_rows(stack.database_url, body["messageId"])
        assert [(r["sender"], r["user_id"]) for r in stored] == [("user", user), ("bot", user)]
        assert stored[0]["content"] == text
        assert stored[1]["content"] == body["response"]


async def test_tenant_without_groq_config_and_no_fallback_gets_503(stack: Stack) -> None:
    await stack.set_fallback(False)
    await stack.new_tenant(_key("other"))  # another tenant's key must never be borrowed
    _, number = await stack.new_tenant(api_key=None)
    text = f"Hello from User C {uuid.uuid4()}"

    response = await stack.chat(number, text)

    assert response.status_code == 503
    assert response.json() == NOT_CONFIGURED
    assert not [r for r in await stack.groq_requests() if text in str(r["body"])]


async def test_unknown_number_uses_the_system_fallback_and_is_stored_without_user(
    stack: Stack,
) -> None:
    fallback_key = _key("system")
    await stack.set_fallback(True, api_key=fallback_key)
    text = f"Hello from unknown user {uuid.uuid4()}"

    response = await stack.chat(random_number(), text)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userId"] is None
    seen = [r for r in await stack.groq_requests() if text in str(r["body"]["messages"])]
    assert [r["authorization"] for r in seen] == [f"Bearer {fallback_key}"]
    assert seen[0]["body"]["model"] == "llama-3.1-8b-instant"
    stored = await conversation_rows(stack.database_url, body["messageId"])
    assert [(r["sender"], r["user_id"]) for r in stored] == [("user", None), ("bot", None)]


async def test_identified_tenant_without_config_uses_the_fallback_when_enabled(
    stack: Stack,
) -> None:
    fallback_key = _key("system")
    await stack.set_fallback(True, api_key=fallback_key)
    user, number = await stack.new_tenant(api_key=None)
    text = f"tenant without config {uuid.uuid4()}"

    response = await stack.chat(number, text)

    assert response.status_code == 200, response.text
    assert response.json()["userId"] == str(user)
    seen = [r for r in await stack.groq_requests() if text in str(r["body"]["messages"])]
    assert [r["authorization"] for r in seen] == [f"Bearer {fallback_key}"]


async def test_disabling_the_fallback_gives_503_for_unknown_and_unconfigured(
    stack: Stack,
) -> None:
    await stack.set_fallback(True, api_key=_key("system"))
    await stack.set_fallback(False)
    _, unconfigured = await stack.new_tenant(api_key=None)

    for number in (random_number(), unconfigured):
        response = await stack.chat(number, f"phase 3 {uuid.uuid4()}")
        assert response.status_code == 503
        assert response.json() == NOT_CONFIGURED


async def test_customer_is_identified_from_conversation_history(stack: Stack) -> None:
    key = _key("hist")
    user, business = await stack.new_tenant(key)
    customer = random_number()

    first = await stack.chat(customer, "first contact", businessPhoneNumber=business)
    assert first.status_code == 200, first.text
    assert first.json()["userId"] == str(user)

    # No business number this time: only the history links the customer to the tenant.
    text = f"follow-up {uuid.uuid4()}"
    second = await stack.chat(customer, text)
    assert second.status_code == 200, second.text
    assert second.json()["userId"] == str(user)
    seen = [r for r in await stack.groq_requests() if text in str(r["body"]["messages"])]
    assert [r["authorization"] for r in seen] == [f"Bearer {key}"]


async def test_reply_uses_the_recent_conversation_as_context(stack: Stack) -> None:
    _, number = await stack.new_tenant(_key("ctx"))
    first_text = f"my order is {uuid.uuid4().hex[:6]}"
    assert (await stack.chat(number, first_text)).status_code == 200
    second_text = f"where is it? {uuid.uuid4()}"
    assert (await stack.chat(number, second_text)).status_code == 200

    request = next(r for r in await stack.groq_requests() if second_text in str(r["body"]))
    messages = request["body"]["messages"]
    assert messages[0]["role"] == "system"
    assert messages[-1] == {"role": "user", "content": second_text}
    assert {"role": "user", "content": first_text} in messages
    assert messages[-2]["role"] == "assistant"


async def test_tenant_model_change_is_used_for_the_next_message(stack: Stack) -> None:
    user, number = await stack.new_tenant(_key("model"))
    await stack.put_groq(user, _key("model2"), model="llama-3.1-8b-instant")
    text = f"after model change {uuid.uuid4()}"

    assert (await stack.chat(number, text)).status_code == 200

    request = next(r for r in await stack.groq_requests() if text in str(r["body"]))
    assert request["body"]["model"] == "llama-3.1-8b-instant"
