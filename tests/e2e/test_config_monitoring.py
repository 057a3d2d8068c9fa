"""Monitoring and the message timeline, from the config service's own event projection."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from shared.groq_models import DEFAULT_CHAT_MODEL
from tests.support.providers import meta_signature, text_message, wamid, whatsapp_payload
from tests.support.running import TRACE_UI_URL
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


async def _admin_get(stack: Stack, path: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        return await client.get(path, params=params, headers=stack.admin())


async def _eventually(
    probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 15
) -> Any:
    """Poll until the projection caught up (it follows the topics a few ms behind)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if ok(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def _timeline(stack: Stack, message_id: str, events: int) -> dict[str, Any]:
    async def probe() -> httpx.Response:
        return await _admin_get(stack, f"/v1/admin/messages/{message_id}/timeline")

    response = await _eventually(
        probe, lambda r: r.status_code == 200 and len(r.json()["events"]) >= events
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_timeline_lists_a_messages_events_in_order_with_services_and_trace(
    stack: Stack,
) -> None:
    user, number = await stack.new_tenant(f"gsk_timeline_{uuid.uuid4().hex}")
    text = f"timeline {uuid.uuid4()}"
    answered = await stack.chat(number, text)
    assert answered.status_code == 200, answered.text
    reply = answered.json()

    timeline = await _timeline(stack, reply["messageId"], 3)

    steps = [(e["event_type"], e["service"]) for e in timeline["events"]]
    assert steps == [
        ("MessageReceived", "gateway"),
        ("UserIdentified", "identity"),
        ("ResponseGenerated", "responder"),
    ]
    times = [e["occurred_at"] for e in timeline["events"]]
    assert times == sorted(times)
    assert timeline["trace_id"] == reply["traceId"]
    assert timeline["trace_url"] == f"{TRACE_UI_URL}/trace/{reply['traceId']}"
    assert {e["trace_id"] for e in timeline["events"]} == {reply["traceId"]}
    assert timeline["events"][1]["user_id"] == str(user)
    assert timeline["events"][2]["summary"]["model"] == DEFAULT_CHAT_MODEL
    assert text not in str(timeline)  # identified messages keep no text


async def test_whatsapp_timeline_includes_the_delivery_and_its_receipts(stack: Stack) -> None:
    user, number, number_id = uuid.uuid4(), random_number(), f"PN{uuid.uuid4().hex[:12]}"
    secret = f"app-secret-{uuid.uuid4().hex}"
    body = {
        "phone_number_id": number_id,
        "display_phone_number": number,
        "access_token": f"EAA{uuid.uuid4().hex}",
        "app_secret": secret,
    }
    assert (
        await stack.config_call("PUT", "/v1/me/whatsapp-config", stack.user(user), body)
    ).status_code == 200
    await stack.put_groq(user, f"gsk_wa_{uuid.uuid4().hex}")
    inbound, customer = wamid(), random_number()

    async def post(payload: bytes) -> None:
        async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
            response = await client.post(
                "/webhooks/whatsapp",
                content=payload,
                headers={
                    "content-type": "application/json",
                    "x-hub-signature-256": meta_signature(payload, secret),
                },
            )
        assert response.status_code == 200, response.text

    await post(whatsapp_payload(number_id, number, [text_message(customer, "hi", inbound)]))
    timeline = await _timeline(stack, inbound, 4)
    [delivered] = [e for e in timeline["events"] if e["event_type"] == "ReplyDelivered"]
    assert delivered["service"] == "gateway"
    [outbound] = delivered["summary"]["provider_message_ids"]

    receipt = {"id": outbound, "status": "read", "timestamp": "1700000000", "recipient_id": "1"}
    await post(whatsapp_payload(number_id, number, statuses=[receipt]))
    timeline = await _timeline(stack, inbound, 5)

    assert [e["event_type"] for e in timeline["events"]] == [
        "MessageReceived",
        "UserIdentified",
        "ResponseGenerated",
        "ReplyDelivered",
        "DeliveryStatusReported",
    ]
    assert timeline["events"][-1]["summary"]["status"] == "read"


async def test_identification_stats_and_unassociated_messages(stack: Stack) -> None:
    async def stats() -> dict[str, Any]:
        response = await _admin_get(stack, "/v1/admin/stats/identification", hours=1)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    before = await stats()
    _, number = await stack.new_tenant(f"gsk_stats_{uuid.uuid4().hex}")
    known = await stack.chat(number, "a customer of a tenant")
    stranger, text = random_number(), f"who am I {uuid.uuid4()}"
    await stack.chat(stranger, text)  # answered by the fallback, or 503: either way unmatched

    after = await _eventually(stats, lambda s: s["total_messages"] >= before["total_messages"] + 2)
    assert after["total_messages"] >= before["total_messages"] + 2
    assert after["identified_messages"] >= before["identified_messages"] + 1
    assert 0 <= after["success_rate"] <= 100
    assert after["success_rate"] == round(
        100 * after["identified_messages"] / after["total_messages"], 2
    )

    page = (await _admin_get(stack, "/v1/admin/messages/unassociated", hours=1, limit=500)).json()
    mine = [m for m in page["items"] if m["customer_phone"] == stranger]
    assert len(mine) == 1 and mine[0]["text"] == text and mine[0]["channel"] == "api"
    assert known.json()["messageId"] not in {m["message_id"] for m in page["items"]}
    one = (await _admin_get(stack, "/v1/admin/messages/unassociated", limit=1)).json()
    assert len(one["items"]) == 1 and one["total"] >= 1 and one["hours"] == 24


async def test_coverage_lists_every_known_user_with_their_groq_status(stack: Stack) -> None:
    configured, _ = await stack.new_tenant(f"gsk_cov_{uuid.uuid4().hex}")
    missing, _ = await stack.new_tenant(api_key=None)
    # known only through its messages: a tenant that talked, then removed its settings
    gone, number = await stack.new_tenant(f"gsk_gone_{uuid.uuid4().hex}")
    assert (await stack.chat(number, "before leaving")).status_code == 200
    for path in ("/v1/me/groq-config", "/v1/me/whatsapp-config"):
        assert (await stack.config_call("DELETE", path, stack.user(gone))).status_code == 204

    async def coverage() -> dict[str, dict[str, Any]]:
        body = (await _admin_get(stack, "/v1/admin/config-coverage", limit=500)).json()
        assert body["total"] == body["configured"] + body["missing"]
        return {user["user_id"]: user for user in body["users"]}

    users = await _eventually(coverage, lambda u: str(gone) in u)
    assert users[str(configured)]["groq_status"] == "Configured"
    assert users[str(missing)]["groq_status"] == "Missing"
    assert users[str(gone)]["groq_status"] == "Missing"
    assert users[str(gone)]["last_message_at"] is not None
    only_missing = (
        await _admin_get(stack, "/v1/admin/config-coverage", groq_status="Missing", limit=500)
    ).json()["users"]
    assert {u["groq_status"] for u in only_missing} == {"Missing"}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/admin/stats/identification", {"hours": 0}),
        ("/v1/admin/stats/identification", {"hours": 721}),
        ("/v1/admin/stats/identification", {"hours": "a day"}),
        ("/v1/admin/messages/unassociated", {"hours": -1}),
        ("/v1/admin/messages/unassociated", {"limit": 0}),
        ("/v1/admin/messages/unassociated", {"offset": -1}),
        ("/v1/admin/config-coverage", {"groq_status": "Maybe"}),
        ("/v1/admin/audit", {"user_id": "not-a-uuid"}),
    ],
)
async def test_bad_monitoring_parameters_are_422(
    stack: Stack, path: str, params: dict[str, Any]
) -> None:
    assert (await _admin_get(stack, path, **params)).status_code == 422


async def test_unknown_message_has_no_timeline(stack: Stack) -> None:
    response = await _admin_get(stack, f"/v1/admin/messages/{uuid.uuid4()}/timeline")
    assert response.status_code == 404
