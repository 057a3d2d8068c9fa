"""A tenant whose Groq key is rate-limited takes no capacity from another tenant, and its
customers are all answered, once, when Groq recovers (issue 13, item 3)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest

from tests.support.db import rows
from tests.support.providers import meta_signature, text_message, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e
T = TypeVar("T")
MODEL_S = 0.3  # every answer takes this long: latencies are a model call plus our overhead
SATURATED_S = 10 * MODEL_S
SLOW_S = 15.0  # a model answering this slowly for one tenant
CAP = 16  # RESPONDER_MAX_IN_FLIGHT_PER_TENANT's default


@dataclass(frozen=True)
class WhatsAppTenant:
    number: str
    number_id: str
    secret: str
    groq_key: str


async def _whatsapp_tenant(stack: Stack) -> WhatsAppTenant:
    user_id, number = uuid.uuid4(), random_number()
    tenant = WhatsAppTenant(
        number, f"PN{uuid.uuid4().hex[:12]}", f"app-secret-{uuid.uuid4().hex}", _key("A")
    )
    await stack.put_whatsapp(user_id, number, tenant.number_id, app_secret=tenant.secret)
    await stack.put_groq(user_id, tenant.groq_key)
    return tenant


def _key(label: str) -> str:
    return f"gsk_iso{label}_{uuid.uuid4().hex}"


async def _paced(
    rate: float, seconds: float, send: Callable[[int], Coroutine[None, None, T]]
) -> list[T]:
    """Start `send(n)` at `rate` per second for `seconds` without waiting for answers."""
    started, tasks = time.monotonic(), list[asyncio.Task[T]]()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(started + n / rate - time.monotonic(), 0))
        tasks.append(asyncio.create_task(send(n)))
    return list(await asyncio.gather(*tasks))


async def _tenant_b(client: httpx.AsyncClient, business: str, seconds: float) -> list[float]:
    """Tenant B's API callers at 4 msg/s: each answer's latency, every one a 200."""
    customers = [random_number() for _ in range(8)]

    async def ask(n: int) -> float:
        body = {
            "text": f"B {uuid.uuid4()}",
            "source": "whatsapp",
            "phoneNumber": customers[n % len(customers)],
            "businessPhoneNumber": business,
        }
        started = time.monotonic()
        response = await client.post("/api-chatbot", json=body)
        assert response.status_code == 200, response.text
        return time.monotonic() - started

    return await _paced(4, seconds, ask)


async def _tenant_a(
    client: httpx.AsyncClient, tenant: WhatsAppTenant, customers: list[str], seconds: float
) -> list[tuple[str, str, str]]:
    """Tenant A's customers at 10 msg/s through signed webhooks: (wamid, customer, text)."""
    sent: list[tuple[str, str, str]] = []

    async def post(n: int) -> None:
        customer, text, message_id = customers[n % len(customers)], f"A {uuid.uuid4()}", wamid()
        body = whatsapp_payload(
            tenant.number_id, tenant.number, [text_message(customer, text, message_id)]
        )
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": meta_signature(body, tenant.secret),
        }
        for attempt in range(3):  # as Meta does: a refused or broken delivery is sent again
            try:
                response = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            except httpx.TransportError:
                if attempt == 2:
                    raise
                continue
            if response.status_code == 200:
                break
        assert response.status_code == 200, response.text
        sent.append((message_id, customer, text))

    await _paced(10, seconds, post)
    return sent


def _p95(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=20)[18]


async def _replies_to(
    stack: Stack, sent: list[tuple[str, str, str]], timeout: float
) -> Counter[str]:
    """How many times each message's text was answered through the Graph API."""
    wanted = {customer.removeprefix("+") for _, customer, _ in sent}
    texts = {text for _, _, text in sent}
    deadline = time.monotonic() + timeout
    while True:
        answered: Counter[str] = Counter()
        for request in await stack.fake_requests(stack.fake_graph):
            if request["body"].get("to") in wanted:
                body = request["body"].get("text", {}).get("body", "")
                answered.update(t for t in (body.rpartition("reply to: ")[2],) if t in texts)
        if set(answered) == texts or time.monotonic() > deadline:
            return answered
        await asyncio.sleep(0.25)


async def _run_phases(
    stack: Stack,
    a: WhatsAppTenant,
    client_a: httpx.AsyncClient,
    client_b: httpx.AsyncClient,
    business_b: str,
    customers_a: list[str],
) -> tuple[list[tuple[str, str, str]], list[float], list[tuple[str, str, str]], list[float]]:
    # Warm-up (connections, prepared statements, consumer assignments), then the baseline:
    # the same traffic, Groq healthy for both.
    a_warm, _ = await asyncio.gather(
        _tenant_a(client_a, a, customers_a, 3), _tenant_b(client_b, business_b, 3)
    )
    a_healthy, baseline = await asyncio.gather(
        _tenant_a(client_a, a, customers_a, 10), _tenant_b(client_b, business_b, 10)
    )
    # Phase 2 starts from an empty pipeline: nothing of the baseline is still queued.
    await _replies_to(stack, a_warm + a_healthy, timeout=60)
    # A's key answers 429 (retry-after: 1) for 15 s while A's customers keep writing.
    await stack.groq_control(
        "/_fake/keys",
        {"key": a.groq_key, "status": 429, "for_seconds": 15, "retry_after": 1, "delay_s": MODEL_S},
    )
    a_limited, during = await asyncio.gather(
        _tenant_a(client_a, a, customers_a, 15), _tenant_b(client_b, business_b, 15)
    )
    return a_warm + a_healthy, baseline, a_limited, during


@pytest.mark.slow
async def test_a_rate_limited_tenant_does_not_slow_another_and_is_answered_once_it_recovers(
    stack: Stack,
) -> None:
    a = await _whatsapp_tenant(stack)
    key_b = _key("B")
    _, business_b = await stack.new_tenant(key_b)
    for key in (a.groq_key, key_b):
        await stack.groq_control("/_fake/keys", {"key": key, "delay_s": MODEL_S})
    customers_a = [random_number() for _ in range(30)]
    # One client per tenant (a client per request costs the test process more CPU than
    # the services spend on the message, and that would be measured as latency).
    headers_b = {"Authorization": f"Bearer {stack.gateway_key}"}
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so a request never
    # races the server closing its connection.
    limits = httpx.Limits(keepalive_expiry=2)
    url = stack.gateway.url
    async with (
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client_a,
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=headers_b) as client_b,
    ):
        a_healthy, baseline, a_limited, during = await _run_phases(
            stack, a, client_a, client_b, business_b, customers_a
        )

    calls_a = [r for r in await stack.groq_requests() if a.groq_key in r["authorization"]]
    limited = [r for r in calls_a if r.get("status") == 429]
    # A really was refused, again and again, but its 30 waiting conversations did not each
    # hit the limited key: about one probe per retry-after.
    assert 3 <= len(limited) < len(a_limited) / 2
    sent = a_healthy + a_limited
    answered = await _replies_to(stack, sent, timeout=45)
    assert len(answered) == len(sent), f"{len(sent) - len(answered)} of A's messages unanswered"
    assert set(answered.values()) == {1}, "a message of A was answered twice"
    stored = await rows(
        stack.database_url,
        "select message_id from customer_conversations where sender = 'bot' "
        "and message_id = any(:ids)",
        ids=[message_id for message_id, _, _ in sent],
    )
    assert len(stored) == len(sent)

    print(f"A: {len(sent)} messages, {len(limited)} calls answered 429")
    print(
        f"B p50/p95 baseline {statistics.median(baseline):.3f}/{_p95(baseline):.3f}s, "
        f"A rate-limited {statistics.median(during):.3f}/{_p95(during):.3f}s"
    )
    slowed = _p95(during) > 1.5 * _p95(baseline)
    if slowed and statistics.median(baseline) > SATURATED_S:
        # Not a finding about isolation: the stack could not carry 14 msg/s on this machine
        # at this moment (other work on its cores), and queues grew through both phases.
        pytest.skip(f"baseline p50 {statistics.median(baseline):.1f}s: machine saturated")
    assert not slowed


@pytest.mark.slow
async def test_a_tenant_whose_model_answers_in_15_s_holds_no_more_than_its_cap(
    stack: Stack,
) -> None:
    a = await _whatsapp_tenant(stack)
    key_b = _key("B")
    _, business_b = await stack.new_tenant(key_b)
    await stack.groq_control("/_fake/keys", {"key": a.groq_key, "delay_s": SLOW_S})
    customers = [random_number() for _ in range(CAP + 4)]
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=60) as client:
        a_sent = await _tenant_a(client, a, customers, len(customers) / 10)
        b_answers = await asyncio.gather(
            *(
                stack.chat(random_number(), f"B {n}", businessPhoneNumber=business_b)
                for n in range(8)
            )
        )
    assert [r.status_code for r in b_answers] == [200] * 8

    answered = await _replies_to(stack, a_sent, timeout=3 * SLOW_S + 30)
    assert len(answered) == len(a_sent) and set(answered.values()) == {1}
    calls = await stack.groq_requests()
    a_starts = sorted(r["at"] for r in calls if r["authorization"] == f"Bearer {a.groq_key}")
    b_starts = [r["at"] for r in calls if r["authorization"] == f"Bearer {key_b}"]
    # Each of A's calls lasts at least SLOW_S, so all calls that start within SLOW_S of one
    # another are in flight together: at most the cap of them.
    most = max(sum(1 for t in a_starts if start <= t < start + SLOW_S) for start in a_starts)
    assert most == CAP
    # B did not wait for a slot that A held: its calls came while A's first calls ran.
    assert max(b_starts) < a_starts[0] + SLOW_S
