"""Issue 16's limits end to end (real Kafka, PostgreSQL, services as processes, the fake
Groq): 61 messages in a minute with a limit of 60 → the 61st degrades as configured; a
flooding customer is stopped while another customer of the same tenant is answered; limits
outside their ranges → 422; a change applies within a second; a tenant never reads
another's limits (API and row-level security)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.contracts.config_events import DEFAULT_LIMIT_TEXT
from tests.support.db import engine_for
from tests.support.providers import meta_signature, text_message, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


def _key() -> str:
    return f"gsk_limits_{uuid.uuid4().hex}"


async def _limits(stack: Stack, user: uuid.UUID, **limits: Any) -> httpx.Response:
    path = f"/v1/admin/tenants/{user}/limits"
    return await stack.config_call("PUT", path, stack.admin(), limits)


async def _fresh_minute(needed_s: float = 25) -> None:
    """Counters are per minute: start a burst where it cannot straddle two minutes."""
    left = 60 - datetime.now(UTC).second
    if left < needed_s:
        await asyncio.sleep(left + 0.2)


async def _ask(
    client: httpx.AsyncClient, business: str, customer: str, text_: str = "Bonjour"
) -> httpx.Response:
    body = {
        "text": text_,
        "source": "whatsapp",
        "phoneNumber": customer,
        "businessPhoneNumber": business,
    }
    return await client.post("/api-chatbot", json=body)


def _client(stack: Stack) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {stack.gateway_key}"}
    return httpx.AsyncClient(base_url=stack.gateway.url, timeout=60, headers=headers)


async def test_the_61st_message_of_a_minute_gets_a_429_with_the_polite_text(stack: Stack) -> None:
    user, business = await stack.new_tenant(_key())
    assert (await _limits(stack, user, messages_per_minute=60)).status_code == 200
    await _fresh_minute()
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> httpx.Response:
        async with gate:
            return await _ask(client, business, random_number(), f"message {n}")

    async with _client(stack) as client:
        answers = await asyncio.gather(*(one(n) for n in range(61)))
    assert Counter(a.status_code for a in answers) == {200: 60, 429: 1}
    (limited,) = [a for a in answers if a.status_code == 429]
    assert limited.json() == {"success": False, "error": DEFAULT_LIMIT_TEXT, "retryable": True}
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


async def test_over_the_limit_the_cheaper_model_answers_first(stack: Stack) -> None:
    user, business = await stack.new_tenant(_key())
    settings = {"cheaper_model": "llama-3.1-8b-instant"}
    response = await stack.config_call(
        "PUT", "/v1/me/groq-pool-settings", stack.user(user), settings
    )
    assert response.status_code == 200, response.text
    assert (await _limits(stack, user, messages_per_minute=2)).status_code == 200
    await _fresh_minute()
    async with _client(stack) as client:
        answers = [
            (await _ask(client, business, random_number(), f"n{n} {user}")) for n in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    models = [
        r["body"]["model"]
        for r in await stack.groq_requests()
        if r["path"] == "/openai/v1/chat/completions" and str(user) in str(r["body"])
    ]
    assert models[-1] == "llama-3.1-8b-instant"
    assert "llama-3.1-8b-instant" not in models[:-1]


async def _until(probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_over_the_limit_a_whatsapp_customer_gets_the_polite_text_and_a_person(
    stack: Stack,
) -> None:
    user, number_id, number = uuid.uuid4(), f"PN{uuid.uuid4().hex[:12]}", random_number()
    secret = f"app-secret-{uuid.uuid4().hex}"
    whatsapp = {
        "phone_number_id": number_id,
        "display_phone_number": number,
        "access_token": f"EAAtok{uuid.uuid4().hex}",
        "app_secret": secret,
    }
    response = await stack.config_call("PUT", "/v1/me/whatsapp-config", stack.user(user), whatsapp)
    assert response.status_code == 200, response.text
    await stack.put_groq(user, _key())
    polite = "Merci, un conseiller vous répond très vite."
    assert (
        await _limits(stack, user, messages_per_minute=1, polite_text=polite)
    ).status_code == 200
    await _fresh_minute()
    first, second = random_number(), random_number()

    async def say(customer: str) -> None:
        body = whatsapp_payload(number_id, number, [text_message(customer, "Bonjour", wamid())])
        async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
            answer = await client.post(
                "/webhooks/whatsapp",
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-hub-signature-256": meta_signature(body, secret),
                },
            )
        assert answer.status_code == 200, answer.text

    async def sent_to(customer: str) -> list[str]:
        to = customer.removeprefix("+")
        return [
            r["body"]["text"]["body"]
            for r in await stack.fake_requests(stack.fake_graph)
            if r["body"].get("to") == to and r["body"].get("type") == "text"
        ]

    await say(first)
    assert polite not in (await _until(lambda: sent_to(first)))[0]
    await say(second)
    assert (await _until(lambda: sent_to(second))) == [polite]

    async def owner_of_second() -> dict[str, Any] | None:
        page = await stack.config_call("GET", "/v1/me/conversations", stack.user(user))
        for item in page.json()["items"]:
            if item["customer_phone"] == second and item["owner"]["owner"] == "human":
                return dict(item["owner"])
        return None

    owner = await _until(owner_of_second)
    assert owner["changed_by"] == "limit_reached"


async def test_a_flooding_customer_is_stopped_and_another_customer_answered(
    stack: Stack,
) -> None:
    user, business = await stack.new_tenant(_key())
    assert (await _limits(stack, user, flood_per_minute=3)).status_code == 200
    await _fresh_minute()
    flooder, other = random_number(), random_number()
    async with _client(stack) as client:
        flood = [(await _ask(client, business, flooder, f"spam {n}")) for n in range(5)]
        calm = await _ask(client, business, other, "une question")
    assert [a.status_code for a in flood] == [200, 200, 200, 429, 429]
    assert flood[-1].json()["retryable"] is True and "Retry-After" in flood[-1].headers
    assert calm.status_code == 200 and calm.json()["success"] is True


async def test_a_change_of_limit_applies_within_a_second(stack: Stack) -> None:
    user, business = await stack.new_tenant(_key())
    assert (await _limits(stack, user, messages_per_minute=1)).status_code == 200
    await _fresh_minute()
    async with _client(stack) as client:
        assert (await _ask(client, business, random_number())).status_code == 200
        assert (await _ask(client, business, random_number())).status_code == 429
        async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as config:
            path = f"/v1/admin/tenants/{user}/limits"
            started = time.monotonic()
            response = await config.put(
                path, headers=stack.admin(), json={"messages_per_minute": 100}
            )
            assert response.status_code == 200, response.text
            await stack.wait_config_applied(int(response.headers["x-config-version"]), timeout=1.0)
            assert time.monotonic() - started < 1.0
        assert (await _ask(client, business, random_number())).status_code == 200


async def test_limits_outside_their_ranges_are_refused(stack: Stack) -> None:
    user, _ = await stack.new_tenant(None)
    for body in (
        {"messages_per_minute": 0},
        {"messages_per_minute": 100_001},
        {"tokens_per_day": 999},
        {"flood_per_minute": 5000},
        {"polite_text": ""},
        {"use_cheaper_model": "sometimes"},
    ):
        response = await _limits(stack, user, **body)
        assert response.status_code == 422, (body, response.text)
    mine = await stack.config_call("GET", "/v1/me/limits", stack.user(user))
    assert mine.json()["applies"] == "system"  # nothing was stored


async def test_the_system_default_applies_until_a_tenant_has_its_own(stack: Stack) -> None:
    user, _ = await stack.new_tenant(None)
    try:
        put = await stack.config_call(
            "PUT", "/v1/admin/limits", stack.admin(), {"messages_per_minute": 100_000}
        )
        assert put.status_code == 200, put.text
        mine = (await stack.config_call("GET", "/v1/me/limits", stack.user(user))).json()
        assert mine["applies"] == "system" and mine["messages_per_minute"] == 100_000
        assert (await _limits(stack, user, tokens_per_day=50_000)).status_code == 200
        mine = (await stack.config_call("GET", "/v1/me/limits", stack.user(user))).json()
        assert mine["applies"] == "tenant" and mine["messages_per_minute"] is None
        assert mine["tokens_per_day"] == 50_000
        path = f"/v1/admin/tenants/{user}/limits"
        assert (await stack.config_call("DELETE", path, stack.admin())).status_code == 204
        assert (await stack.config_call("DELETE", path, stack.admin())).status_code == 404
        mine = (await stack.config_call("GET", "/v1/me/limits", stack.user(user))).json()
        assert mine["applies"] == "system" and mine["messages_per_minute"] == 100_000
    finally:  # the stack is shared: no system limit for the other tests
        reset = await stack.config_call("PUT", "/v1/admin/limits", stack.admin(), {})
        assert reset.status_code == 200


async def test_a_tenant_never_reads_another_tenants_limits(stack: Stack) -> None:
    a, _ = await stack.new_tenant(None)
    b, _ = await stack.new_tenant(None)
    assert (await _limits(stack, a, flood_per_minute=7)).status_code == 200
    assert (await _limits(stack, b, flood_per_minute=9)).status_code == 200
    forbidden = await stack.config_call("GET", f"/v1/admin/tenants/{b}/limits", stack.user(a))
    assert forbidden.status_code == 403
    for method, path in (("PUT", "/v1/admin/limits"), ("PUT", f"/v1/admin/tenants/{a}/limits")):
        call = await stack.config_call(method, path, stack.user(a), {"flood_per_minute": 1000})
        assert call.status_code == 403
    assert (await stack.config_call("PUT", "/v1/me/limits", stack.user(a), {})).status_code == 405
    mine = (await stack.config_call("GET", "/v1/me/limits", stack.user(a))).json()
    assert mine["flood_per_minute"] == 7
    # one audit row for the tenant's limits, naming the field (never a value)
    audit = await stack.config_call("GET", f"/v1/admin/audit?user_id={a}", stack.admin())
    rows = [e for e in audit.json()["items"] if e["entity"] == "tenant_limits"]
    assert len(rows) == 1 and "flood_per_minute" in rows[0]["changed_fields"]
    assert "7" not in str(rows[0]["changed_fields"])
    # row-level security: as config_api for A, B's row does not exist
    async with engine_for(stack.database_url) as engine, engine.begin() as connection:
        await connection.execute(
            text(
                "select set_config('role', 'config_api', true), set_config('app.user_id', :u, true)"
            ),
            {"u": str(a)},
        )
        seen = (
            await connection.execute(text("select array_agg(user_id) from tenant_limits"))
        ).scalar_one()
    assert seen == [a]
