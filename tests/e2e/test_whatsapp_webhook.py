"""WhatsApp Cloud API webhooks in, replies out through the (fake) Graph API."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from shared.contracts.topics import MESSAGES_RECEIVED
from tests.conftest import WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN
from tests.support.db import rows
from tests.support.kafka import end_offsets
from tests.support.providers import meta_signature, text_message, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


class Tenant:
    def __init__(self, user_id: uuid.UUID, number: str, number_id: str, token: str, secret: str):
        self.user_id, self.number, self.number_id = user_id, number, number_id
        self.token, self.secret = token, secret


async def _tenant(stack: Stack, *, own_secret: bool = True) -> Tenant:
    user_id, number = uuid.uuid4(), random_number()
    number_id, token = f"PN{uuid.uuid4().hex[:12]}", f"EAAtok{uuid.uuid4().hex}"
    secret = f"app-secret-{uuid.uuid4().hex}" if own_secret else WHATSAPP_APP_SECRET
    extra = {"app_secret": secret, "verify_token": f"vt-{user_id}"} if own_secret else {}
    body = {
        "phone_number_id": number_id,
        "display_phone_number": number,
        "access_token": token,
        **extra,
    }
    response = await stack.config_call("PUT", "/v1/me/whatsapp-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    await stack.put_groq(user_id, f"gsk_wa_{uuid.uuid4().hex}")
    return Tenant(user_id, number, number_id, token, secret)


async def _post(stack: Stack, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        return await client.post("/webhooks/whatsapp", content=body, headers=headers)


async def _sends(
    stack: Stack, predicate: Any, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        sent = [  # text sends only: read receipts, typing and templates have no text body
            r
            for r in await stack.fake_requests(stack.fake_graph)
            if "text" in r.get("body", {}) and predicate(r)
        ]
        if len(sent) >= count or time.monotonic() > deadline:
            return sent
        await asyncio.sleep(0.1)


def _to(customer: str) -> Any:
    return lambda r: r["body"].get("to") == customer.removeprefix("+")


async def test_subscription_handshake(stack: Stack) -> None:
    tenant = await _tenant(stack)
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client:
        for token in (WHATSAPP_VERIFY_TOKEN, f"vt-{tenant.user_id}"):
            ok = await client.get(
                "/webhooks/whatsapp",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": token,
                    "hub.challenge": "1158201444",
                },
            )
            assert (ok.status_code, ok.text) == (200, "1158201444")
            assert ok.headers["content-type"].startswith("text/plain")
        wrong = await client.get(
            "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
        )
        assert wrong.status_code == 403


async def test_a_signed_message_is_answered_through_the_graph_api(stack: Stack) -> None:
    tenant = await _tenant(stack)
    customer, text = random_number(), f"bonjour {uuid.uuid4()}"
    body = whatsapp_payload(tenant.number_id, tenant.number, [text_message(customer, text)])

    started = time.monotonic()
    response = await _post(stack, body, meta_signature(body, tenant.secret))
    ack_seconds = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert ack_seconds < 2
    [sent] = await _sends(stack, _to(customer), 1)
    assert sent["path"].endswith(f"/{tenant.number_id}/messages")
    assert sent["authorization"] == f"Bearer {tenant.token}"
    assert sent["body"]["messaging_product"] == "whatsapp"
    assert sent["body"]["type"] == "text"
    assert text in sent["body"]["text"]["body"]


async def test_forged_missing_and_other_tenant_signatures_are_refused(stack: Stack) -> None:
    tenant, other = await _tenant(stack), await _tenant(stack)
    kafka = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    before = await end_offsets(kafka, MESSAGES_RECEIVED.name)
    customer, text = random_number(), f"forged {uuid.uuid4()}"
    body = whatsapp_payload(tenant.number_id, tenant.number, [text_message(customer, text)])

    for signature in (
        None,
        "sha256=" + "0" * 64,
        meta_signature(body, other.secret),
        meta_signature(body, WHATSAPP_APP_SECRET),  # the global secret is not this tenant's
        meta_signature(body + b" ", tenant.secret),
    ):
        response = await _post(stack, body, signature)
        assert response.status_code == 401, signature

    await asyncio.sleep(0.5)
    assert await end_offsets(kafka, MESSAGES_RECEIVED.name) == before
    assert not [r for r in await stack.groq_requests() if text in str(r["body"])]
    assert not await _sends(stack, _to(customer), 1, timeout=0)


async def test_the_same_wamid_five_times_at_once_is_answered_once(stack: Stack) -> None:
    tenant = await _tenant(stack)
    customer, text = random_number(), f"dup {uuid.uuid4()}"
    body = whatsapp_payload(tenant.number_id, tenant.number, [text_message(customer, text)])
    signature = meta_signature(body, tenant.secret)

    answers = await asyncio.gather(*(_post(stack, body, signature) for _ in range(5)))

    assert [a.status_code for a in answers] == [200] * 5
    await _sends(stack, _to(customer), 1)
    await asyncio.sleep(1.0)  # give a duplicate every chance to show up
    assert len(await _sends(stack, _to(customer), 1, timeout=0)) == 1
    assert len([r for r in await stack.groq_requests() if text in str(r["body"])]) == 1


async def test_200_webhooks_across_two_tenants_get_200_replies_to_the_right_places(
    stack: Stack,
) -> None:
    tenants = [await _tenant(stack), await _tenant(stack, own_secret=False)]
    run = uuid.uuid4().hex[:8]
    jobs = []
    for i in range(200):
        tenant = tenants[i % 2]
        customer = random_number()
        body = whatsapp_payload(
            tenant.number_id, tenant.number, [text_message(customer, f"burst {run} {i}")]
        )
        jobs.append((tenant, customer, body, meta_signature(body, tenant.secret)))
    limit = asyncio.Semaphore(20)

    async def deliver(body: bytes, signature: str) -> int:
        async with limit:
            return (await _post(stack, body, signature)).status_code

    statuses = await asyncio.gather(*(deliver(b, s) for _, _, b, s in jobs))
    assert statuses == [200] * 200

    sent = await _sends(
        stack, lambda r: f"burst {run} " in r["body"]["text"]["body"], 200, timeout=90
    )
    assert len(sent) == 200
    by_customer = {r["body"]["to"]: r for r in sent}
    for tenant, customer, _, _ in jobs:
        request = by_customer[customer.removeprefix("+")]
        assert request["path"].endswith(f"/{tenant.number_id}/messages")
        assert request["authorization"] == f"Bearer {tenant.token}"
    # Published by the fast path and marked by it: the relay only takes rows older than
    # 3 s, so every row marked sooner than that was never left to it.
    marked = await rows(
        stack.database_url,
        "select count(*) filter (where published_at - created_at < interval '3 seconds') as fast,"
        " count(*) as n from gateway_outbox where payload like :pattern",
        pattern=f"%burst {run} %",
    )
    assert marked[0]["n"] == 200 and marked[0]["fast"] == 200, marked


async def test_graph_500_twice_then_200_delivers_one_reply(stack: Stack) -> None:
    tenant = await _tenant(stack)
    customer = random_number()
    await stack.fake_control(stack.fake_graph, "/_fake/fail", {"status": 500, "times": 2})
    body = whatsapp_payload(tenant.number_id, tenant.number, [text_message(customer, "retry me")])

    assert (await _post(stack, body, meta_signature(body, tenant.secret))).status_code == 200

    attempts = await _sends(stack, _to(customer), 3)
    assert len(attempts) == 3  # two scripted 500s, then the delivered one
    await asyncio.sleep(0.5)
    assert len(await _sends(stack, _to(customer), 1, timeout=0)) == 3
    delivered = await rows(
        stack.database_url,
        "select status, parts_sent from outbound_deliveries d join inbound_messages i "
        "on i.message_id = d.message_id where i.channel = 'whatsapp' and d.status = 'sent' "
        "and d.provider_message_ids::text like '%wamid.fake%' order by d.updated_at desc limit 1",
    )
    assert delivered and delivered[0]["parts_sent"] == 1


async def test_graph_401_ends_in_reply_failed_without_retries(stack: Stack) -> None:
    tenant = await _tenant(stack)
    customer = random_number()
    message = text_message(customer, "token revoked")
    await stack.fake_control(stack.fake_graph, "/_fake/fail", {"status": 401, "times": 1})
    body = whatsapp_payload(tenant.number_id, tenant.number, [message])

    assert (await _post(stack, body, meta_signature(body, tenant.secret))).status_code == 200

    await _sends(stack, _to(customer), 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = await rows(
            stack.database_url,
            "select status, attempts, last_error from outbound_deliveries where message_id = :m",
            m=message["id"],
        )
        if found and found[0]["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    assert found[0]["status"] == "failed"
    assert "401" in found[0]["last_error"]
    assert tenant.token not in found[0]["last_error"]
    await asyncio.sleep(0.5)
    assert len(await _sends(stack, _to(customer), 1, timeout=0)) == 1


async def test_one_delivery_carrying_50_messages(stack: Stack) -> None:
    tenant = await _tenant(stack)
    customers = [random_number() for _ in range(50)]
    messages = [text_message(c, f"batch {i}") for i, c in enumerate(customers)]
    body = whatsapp_payload(tenant.number_id, tenant.number, messages)

    assert (await _post(stack, body, meta_signature(body, tenant.secret))).status_code == 200

    wanted = {c.removeprefix("+") for c in customers}
    sent = await _sends(stack, lambda r: r["body"].get("to") in wanted, 50, timeout=60)
    assert {r["body"]["to"] for r in sent} == wanted


async def test_status_only_delivery_is_stored(stack: Stack) -> None:
    tenant = await _tenant(stack)
    outbound = wamid()
    statuses = [
        {"id": outbound, "status": "delivered", "timestamp": "1700000000", "recipient_id": "1415"},
        {"id": outbound, "status": "read", "timestamp": "1700000001", "recipient_id": "1415"},
    ]
    body = whatsapp_payload(tenant.number_id, tenant.number, statuses=statuses)

    response = await _post(stack, body, meta_signature(body, tenant.secret))

    assert response.status_code == 200
    stored = await rows(
        stack.database_url,
        "select status from delivery_receipts where provider_message_id = :m order by status",
        m=outbound,
    )
    assert [r["status"] for r in stored] == ["delivered", "read"]


async def test_malformed_and_oversized_deliveries(stack: Stack) -> None:
    malformed = b'{"object": "whatsapp_business_account", "entry": ['
    assert (
        await _post(stack, malformed, meta_signature(malformed, WHATSAPP_APP_SECRET))
    ).status_code == 400
    huge = (
        b'{"object": "whatsapp_business_account", "entry": [], "pad": "'
        + b"x" * (4 * 1024 * 1024)
        + b'"}'
    )
    assert (await _post(stack, huge, meta_signature(huge, WHATSAPP_APP_SECRET))).status_code == 413


async def test_media_without_caption_goes_to_the_pipeline(stack: Stack) -> None:
    tenant = await _tenant(stack)
    customer = random_number()
    message = {
        "from": customer.removeprefix("+"),
        "id": wamid(),
        "type": "audio",
        "audio": {"id": "m"},
    }
    body = whatsapp_payload(tenant.number_id, tenant.number, [message])

    assert (await _post(stack, body, meta_signature(body, tenant.secret))).status_code == 200

    stored = await rows(
        stack.database_url,
        "select kind, answered from inbound_messages where message_id = :m",
        m=message["id"],
    )
    assert stored == [{"kind": "audio", "answered": True}]  # the media service resolves it


@pytest.mark.slow
async def test_delivery_worker_sigkilled_mid_burst_sends_every_reply_exactly_once(
    stack: Stack,
) -> None:
    tenant = await _tenant(stack)
    run = uuid.uuid4().hex[:8]
    customers = [random_number() for _ in range(60)]
    for i, customer in enumerate(customers):
        body = whatsapp_payload(
            tenant.number_id, tenant.number, [text_message(customer, f"crash {run} {i}")]
        )
        assert (await _post(stack, body, meta_signature(body, tenant.secret))).status_code == 200

    def mine(r: dict[str, Any]) -> bool:
        return f"crash {run} " in r["body"]["text"]["body"]

    try:
        await _sends(stack, mine, 20)
        # From now on the fake Graph API holds every new send before accepting it, so the
        # kill lands while sends are in flight but outside the documented window (accepted by
        # the provider, not yet recorded by us).
        await stack.fake_control(stack.fake_graph, "/_fake/delay", {"seconds": 30})
        await asyncio.sleep(0.5)
        stack.gateway.kill()
    finally:
        await stack.fake_control(stack.fake_graph, "/_fake/delay", {"seconds": 0})
    stack.gateway.start()
    await asyncio.to_thread(stack.gateway.wait_ready)

    sent = await _sends(stack, mine, 60, timeout=120)
    await asyncio.sleep(1.0)
    sent = await _sends(stack, mine, 60, timeout=0)
    per_customer: dict[str, int] = {}
    for request in sent:
        per_customer[request["body"]["to"]] = per_customer.get(request["body"]["to"], 0) + 1
    assert per_customer == {c.removeprefix("+"): 1 for c in customers}
