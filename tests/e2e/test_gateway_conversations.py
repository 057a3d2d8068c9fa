"""Issue 14, the gateway's side, against the whole stack and the fake Graph server: typing
before the reply, the owner re-checked before each send (a pause, a business echo), the
24-hour window (and the re-engagement template), delivery statuses with their reasons on
the timeline, and a 130429 backed off and sent later.

The turns themselves are the responder's (another branch): these tests publish the
responder's events (TurnStarted, ResponseGenerated) on messages.outcomes.v1 themselves,
the owner changes on conversations.owner.v1 and the tenant's conversation settings on the
config topic, and drive the rest through signed webhooks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel
from sqlalchemy import text

from shared.contracts.config_events import ConversationSettingsChanged, config_event_key
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    TurnStarted,
    owner_key,
)
from shared.contracts.messages import Channel, ConfigSource, ResponseGenerated
from shared.contracts.topics import (
    CONFIG_CHANGES,
    CONVERSATION_OWNERS,
    MESSAGE_DELIVERIES,
    MESSAGE_OUTCOMES,
)
from tests.support.db import engine_for
from tests.support.kafka import read_topic
from tests.support.providers import (
    meta_signature,
    text_message,
    twilio_signature,
    wamid,
    whatsapp_payload,
)
from tests.support.stack import Stack, random_number

# It publishes the responder's and the config service's events itself (runs last).
pytestmark = [pytest.mark.e2e, pytest.mark.fabricates_events]


class Tenant:
    def __init__(self, user_id: uuid.UUID, number: str, number_id: str, secret: str) -> None:
        self.user_id, self.number, self.number_id, self.secret = (
            user_id,
            number,
            number_id,
            secret,
        )

    def key(self, customer: str) -> str:
        return f"whatsapp:{self.number_id}:{customer}"


async def _tenant(stack: Stack) -> Tenant:
    user_id, number = uuid.uuid4(), random_number()
    number_id, secret = f"PN{uuid.uuid4().hex[:12]}", f"app-secret-{uuid.uuid4().hex}"
    body = {
        "phone_number_id": number_id,
        "display_phone_number": number,
        "access_token": f"EAAtok{uuid.uuid4().hex}",
        "app_secret": secret,
    }
    response = await stack.config_call("PUT", "/v1/me/whatsapp-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    await stack.put_groq(user_id, f"gsk_conv_{uuid.uuid4().hex}")
    return Tenant(user_id, number, number_id, secret)


@pytest_asyncio.fixture
async def producer(kafka: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def _publish(producer: AIOKafkaProducer, topic: str, key: str, event: BaseModel) -> int:
    sent = await producer.send_and_wait(topic, event.model_dump_json().encode(), key=key.encode())
    return int(sent.offset)


def _reply(tenant: Tenant, customer: str, text: str, **kw: Any) -> ResponseGenerated:
    return ResponseGenerated(
        message_id=kw.pop("message_id", wamid()),
        conversation_key=tenant.key(customer),
        user_id=tenant.user_id,
        channel=Channel.WHATSAPP,
        source="whatsapp",
        customer_phone=customer,
        business_phone=tenant.number,
        phone_number_id=tenant.number_id,
        response=text,
        config_source=ConfigSource.USER,
        model="m",
        **kw,
    )


async def _eventually(
    probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 30
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if ok(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def _graph_calls(stack: Stack, customer: str) -> list[dict[str, Any]]:
    to = customer.removeprefix("+")
    return [r for r in await stack.fake_requests(stack.fake_graph) if r["body"].get("to") == to]


async def _deliveries(kafka: str, message_id: str) -> list[dict[str, Any]]:
    events = [json.loads(value) for _, _, value in await read_topic(kafka, MESSAGE_DELIVERIES.name)]
    return [e for e in events if e.get("message_id") == message_id]


async def _failed(kafka: str, message_id: str) -> dict[str, Any]:
    found = await _eventually(
        lambda: _deliveries(kafka, message_id),
        lambda events: any(e["event_type"] == "ReplyFailed" for e in events),
    )
    [failed] = [e for e in found if e["event_type"] == "ReplyFailed"]
    return dict(failed)


async def _readyz(stack: Stack) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as client:
        body: dict[str, Any] = (await client.get(stack.gateway.url + "/readyz")).json()
        return body


async def _owner_change(
    stack: Stack, producer: AIOKafkaProducer, change: ConversationOwnerChanged
) -> None:
    """Publish an owner change and wait until the gateway's owner view has it."""
    before = (await _readyz(stack))["owner_changes"]
    await _publish(producer, CONVERSATION_OWNERS.name, owner_key(change), change)
    after = await _eventually(lambda: _readyz(stack), lambda b: b["owner_changes"] > before)
    assert after["owner_changes"] > before


async def _post(stack: Stack, tenant: Tenant, payload: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        return await client.post(
            "/webhooks/whatsapp",
            content=payload,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": meta_signature(payload, tenant.secret),
            },
        )


async def test_typing_and_read_go_out_before_the_reply(
    stack: Stack, kafka: str, producer: AIOKafkaProducer
) -> None:
    tenant, customer = await _tenant(stack), random_number()
    first, last = wamid(), wamid()
    turn = TurnStarted(
        message_id=last,
        conversation_key=tenant.key(customer),
        user_id=tenant.user_id,
        channel=Channel.WHATSAPP,
        customer_phone=customer,
        phone_number_id=tenant.number_id,
        turn_message_ids=[first, last],
    )
    await _publish(producer, MESSAGE_OUTCOMES.name, turn.conversation_key, turn)

    async def typing_calls() -> list[dict[str, Any]]:
        return [
            r
            for r in await stack.fake_requests(stack.fake_graph)
            if r["body"].get("message_id") == last
        ]

    [typing] = await _eventually(typing_calls, lambda calls: len(calls) >= 1)
    assert typing["body"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": last,
        "typing_indicator": {"type": "text"},
    }
    assert typing["path"].endswith(f"/{tenant.number_id}/messages")
    reply = _reply(tenant, customer, "here is your answer", message_id=last)
    await _publish(producer, MESSAGE_OUTCOMES.name, reply.conversation_key, reply)

    [sent] = await _eventually(lambda: _graph_calls(stack, customer), lambda s: len(s) >= 1)
    assert sent["body"]["text"]["body"] == "here is your answer"
    assert typing["at"] < sent["at"]


async def test_a_paused_conversation_gets_no_reply_and_the_reason_is_recorded(
    stack: Stack, kafka: str, producer: AIOKafkaProducer
) -> None:
    tenant, customer = await _tenant(stack), random_number()
    await _owner_change(
        stack,
        producer,
        ConversationOwnerChanged(
            user_id=tenant.user_id,
            conversation_key=tenant.key(customer),
            owner=ConversationOwner.PAUSED,
            changed_by=OwnerChangedBy.TENANT_API,
        ),
    )
    reply = _reply(tenant, customer, "should not leave")
    await _publish(producer, MESSAGE_OUTCOMES.name, reply.conversation_key, reply)

    failed = await _failed(kafka, reply.message_id)

    assert failed["reason"] == "owner_paused"
    assert await _graph_calls(stack, customer) == []


def _echo_payload(tenant: Tenant, customer: str, echo_id: str) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": tenant.number.removeprefix("+"),
            "phone_number_id": tenant.number_id,
        },
        "message_echoes": [
            {
                "from": tenant.number.removeprefix("+"),
                "to": customer.removeprefix("+"),
                "id": echo_id,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": "I'll take it from here"},
            },
            {"to": "no id: skipped"},
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "smb_message_echoes", "value": value}]}],
    }
    return json.dumps(body).encode()


async def test_a_business_echo_hands_the_conversation_to_a_human(
    stack: Stack, kafka: str, producer: AIOKafkaProducer
) -> None:
    tenant, customer, echo_id = await _tenant(stack), random_number(), wamid()
    before = (await _readyz(stack))["owner_changes"]
    payload = _echo_payload(tenant, customer, echo_id)

    for _ in range(2):  # Meta redelivers: one change only
        response = await _post(stack, tenant, payload)
        assert response.status_code == 200, response.text

    async def changes() -> list[dict[str, Any]]:
        values = await read_topic(kafka, CONVERSATION_OWNERS.name)
        return [e for e in map(json.loads, (v for _, _, v in values)) if e["message_id"] == echo_id]

    [change] = await _eventually(changes, lambda found: len(found) >= 1)
    assert change["owner"] == "human" and change["changed_by"] == "business_echo"
    assert change["conversation_key"] == tenant.key(customer)
    assert change["user_id"] == str(tenant.user_id)
    until = datetime.fromisoformat(change["until"])
    expected = datetime.now(UTC) + timedelta(seconds=43200)  # the default human expiry
    assert abs((until - expected).total_seconds()) < 120
    await _eventually(lambda: _readyz(stack), lambda b: b["owner_changes"] > before)

    reply = _reply(tenant, customer, "the bot must stay quiet")
    await _publish(producer, MESSAGE_OUTCOMES.name, reply.conversation_key, reply)
    assert (await _failed(kafka, reply.message_id))["reason"] == "owner_human"
    assert await _graph_calls(stack, customer) == []
    assert len(await changes()) == 1


async def test_a_malformed_echo_is_acknowledged_and_ignored(stack: Stack) -> None:
    tenant = await _tenant(stack)
    value = {"metadata": {"phone_number_id": tenant.number_id}, "message_echoes": "junk"}
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "smb_message_echoes", "value": value}]}],
    }
    response = await _post(stack, tenant, json.dumps(body).encode())
    assert response.status_code == 200, response.text


async def test_a_reply_past_the_window_is_not_sent_then_the_template_goes_instead(
    stack: Stack, kafka: str, producer: AIOKafkaProducer
) -> None:
    tenant, customer = await _tenant(stack), random_number()
    seen = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    late = _reply(tenant, customer, "too late", customer_last_seen_at=seen)
    await _publish(producer, MESSAGE_OUTCOMES.name, late.conversation_key, late)

    failed = await _failed(kafka, late.message_id)
    assert failed["reason"] == "window_closed" and failed["provider_message_ids"] == []
    assert await _graph_calls(stack, customer) == []

    settings = ConversationSettingsChanged(
        user_id=tenant.user_id,
        reengagement_template="order_follow_up",
        template_language="en_US",
        version=1,
    )
    offset = await _publish(producer, CONFIG_CHANGES.name, config_event_key(settings), settings)
    await stack.wait_config_applied(offset)
    later = _reply(tenant, customer, "still too late", customer_last_seen_at=seen)
    await _publish(producer, MESSAGE_OUTCOMES.name, later.conversation_key, later)

    failed = await _failed(kafka, later.message_id)
    [template] = await _graph_calls(stack, customer)
    assert template["body"]["type"] == "template"
    assert template["body"]["template"] == {
        "name": "order_follow_up",
        "language": {"code": "en_US"},
    }
    assert failed["reason"] == "window_closed" and len(failed["provider_message_ids"]) == 1
    assert "order_follow_up" in failed["detail"]


async def _timeline_answer(
    stack: Stack, message_id: str, ok: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> httpx.Response:
        async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
            return await client.get(
                f"/v1/admin/messages/{message_id}/timeline", headers=stack.admin()
            )

    response = await _eventually(probe, lambda r: r.status_code == 200 and ok(r.json()))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _timeline(stack: Stack, message_id: str, events: int) -> list[dict[str, Any]]:
    body = await _timeline_answer(stack, message_id, lambda b: len(b["events"]) >= events)
    found: list[dict[str, Any]] = body["events"]
    return found


async def test_statuses_reach_the_timeline_with_their_reason(stack: Stack) -> None:
    tenant, customer, inbound = await _tenant(stack), random_number(), wamid()
    message = whatsapp_payload(
        tenant.number_id, tenant.number, [text_message(customer, "hi", inbound)]
    )
    assert (await _post(stack, tenant, message)).status_code == 200
    events = await _timeline(stack, inbound, 4)
    [delivered] = [e for e in events if e["event_type"] == "ReplyDelivered"]
    [outbound] = delivered["summary"]["provider_message_ids"]

    def status(name: str, **extra: Any) -> dict[str, Any]:
        return {"id": outbound, "status": name, "timestamp": "1700000000", **extra}

    failed = status("failed", errors=[{"code": 131026, "title": "Message undeliverable"}])
    for receipts in ([status("sent"), status("delivered")], [status("read"), failed]):
        payload = whatsapp_payload(tenant.number_id, tenant.number, statuses=receipts)
        assert (await _post(stack, tenant, payload)).status_code == 200
        if failed not in receipts:  # the monitoring API's verdict follows the statuses
            body = await _timeline_answer(
                stack, inbound, lambda b: (b["delivery"] or {}).get("status") == "delivered"
            )
            assert body["delivery"]["settled_by"] == "DeliveryStatusReported"
    again = whatsapp_payload(tenant.number_id, tenant.number, statuses=[status("read")])
    assert (await _post(stack, tenant, again)).status_code == 200  # deduplicated

    events = await _timeline(stack, inbound, 8)
    receipts = [e["summary"] for e in events if e["event_type"] == "DeliveryStatusReported"]
    assert [r["status"] for r in receipts] == ["sent", "delivered", "read", "failed"]
    assert receipts[-1]["reason"] == "undeliverable"
    assert receipts[-1]["error_codes"] == [131026]
    assert all("reason" not in r for r in receipts[:-1])
    # reported after the send: the reply Meta accepted is shown failed, with why
    body = await _timeline_answer(stack, inbound, lambda b: b["delivery"]["status"] == "failed")
    assert body["delivery"] == {
        "status": "failed",
        "reason": "undeliverable",
        "error_code": 131026,
        "settled_by": "DeliveryStatusReported",
    }


async def test_130429_is_backed_off_and_sent_later(
    stack: Stack, kafka: str, producer: AIOKafkaProducer
) -> None:
    tenant, customer = await _tenant(stack), random_number()
    await stack.fake_control(
        stack.fake_graph,
        "/_fake/graph_error",
        {"code": 130429, "status": 400, "times": 1, "kind": "text"},
    )
    reply = _reply(tenant, customer, "after the back-off")
    await _publish(producer, MESSAGE_OUTCOMES.name, reply.conversation_key, reply)

    calls = await _eventually(lambda: _graph_calls(stack, customer), lambda c: len(c) >= 2)

    assert [c["body"]["text"]["body"] for c in calls] == ["after the back-off"] * 2
    assert calls[1]["at"] - calls[0]["at"] >= 0.9  # the first back-off is 1 s
    found = await _eventually(
        lambda: _deliveries(kafka, reply.message_id),
        lambda events: any(e["event_type"] == "ReplyDelivered" for e in events),
    )
    assert [e["event_type"] for e in found] == ["ReplyDelivered"]


async def test_twilio_turns_show_the_typing_indicator_before_the_reply(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    user_id, number, customer = uuid.uuid4(), random_number(), random_number()
    sid, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    body = {"account_sid": sid, "auth_token": token, "phone_number": number}
    response = await stack.config_call("PUT", "/v1/me/twilio-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    inbound, key = "SM" + uuid.uuid4().hex, f"twilio:{number}:{customer}"
    turn = TurnStarted(
        message_id=inbound,
        conversation_key=key,
        user_id=user_id,
        channel=Channel.TWILIO,
        customer_phone=customer,
        business_phone=number,
        turn_message_ids=[inbound],
        source="whatsapp",
    )
    await _publish(producer, MESSAGE_OUTCOMES.name, key, turn)

    async def calls() -> list[dict[str, Any]]:
        return [
            r
            for r in await stack.fake_requests(stack.fake_twilio)
            if r["body"].get("messageId") == inbound
            or r["body"].get("To") == f"whatsapp:{customer}"
        ]

    [typing] = await _eventually(calls, lambda found: len(found) >= 1)
    assert typing["path"] == "/v2/Indicators/Typing.json"
    assert typing["body"]["channel"] == "whatsapp"
    reply = ResponseGenerated(
        message_id=inbound,
        conversation_key=key,
        user_id=user_id,
        channel=Channel.TWILIO,
        source="whatsapp",
        customer_phone=customer,
        business_phone=number,
        response="typed, then sent",
        config_source=ConfigSource.USER,
        model="m",
    )
    await _publish(producer, MESSAGE_OUTCOMES.name, key, reply)

    found = await _eventually(calls, lambda found: len(found) >= 2)
    assert [r["path"].rsplit("/", 1)[-1] for r in found] == ["Typing.json", "Messages.json"]
    assert found[1]["body"]["Body"] == "typed, then sent"


async def test_without_last_seen_the_gateways_acceptance_time_closes_the_window(
    stack: Stack, kafka: str, producer: AIOKafkaProducer
) -> None:
    tenant, customer = await _tenant(stack), random_number()
    yesterday, recent = wamid(), wamid()
    async with engine_for(stack.database_url) as engine, engine.begin() as connection:
        for message_id, hours in ((yesterday, 25), (recent, 1)):  # as if accepted then
            await connection.execute(
                text(
                    "insert into inbound_messages (message_id, channel, kind, fingerprint, "
                    "created_at) values (:m, 'whatsapp', 'text', 'provider', "
                    "now() - make_interval(hours => :h))"
                ),
                {"m": message_id, "h": hours},
            )
    for message_id in (yesterday, recent):
        reply = _reply(tenant, customer, f"answer to {message_id}", message_id=message_id)
        await _publish(producer, MESSAGE_OUTCOMES.name, reply.conversation_key, reply)

    assert (await _failed(kafka, yesterday))["reason"] == "window_closed"
    [sent] = await _eventually(lambda: _graph_calls(stack, customer), lambda s: len(s) >= 1)
    assert sent["body"]["text"]["body"] == f"answer to {recent}"


async def test_twilio_statuses_come_back_once_each_and_undelivered_shows_the_reply_failed(
    stack: Stack,
) -> None:
    sid, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    user_id, number = uuid.uuid4(), random_number()
    body = {"account_sid": sid, "auth_token": token, "phone_number": number}
    response = await stack.config_call("PUT", "/v1/me/twilio-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    await stack.put_groq(user_id, f"gsk_tw_{uuid.uuid4().hex}")
    customer, inbound = random_number(), "SM" + uuid.uuid4().hex
    to = f"whatsapp:{customer}"
    # Twilio accepts the reply, then reports it undelivered: the 24-hour window had closed
    scripted = {"to": to, "statuses": ["queued", "sent", "undelivered"], "error_code": 63016}
    await stack.fake_control(stack.fake_twilio, "/_fake/statuses", scripted)
    params = {
        "MessageSid": inbound,
        "AccountSid": sid,
        "From": to,
        "To": f"whatsapp:{number}",
        "Body": "where is my order?",
        "NumMedia": "0",
    }
    signature = twilio_signature(token, f"{stack.gateway.url}/webhooks/twilio", params)
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        answer = await client.post(
            "/webhooks/twilio", data=params, headers={"x-twilio-signature": signature}
        )
    assert answer.status_code == 200, answer.text

    async def sends() -> list[dict[str, Any]]:
        return [
            r for r in await stack.fake_requests(stack.fake_twilio) if r["body"].get("To") == to
        ]

    [send] = await _eventually(sends, lambda found: len(found) >= 1)
    callback = f"{stack.gateway.url}/webhooks/twilio/status"
    assert send["body"]["StatusCallback"] == callback
    timeline = await _timeline_answer(
        stack, inbound, lambda b: (b["delivery"] or {}).get("status") == "failed"
    )
    assert timeline["delivery"] == {
        "status": "failed",
        "reason": "window_closed",
        "error_code": 63016,
        "settled_by": "DeliveryStatusReported",
    }
    [outbound] = [
        e["summary"]["provider_message_ids"][0]
        for e in timeline["events"]
        if e["event_type"] == "ReplyDelivered"
    ]
    # Twilio may post a status again: it is acknowledged and not recorded twice
    again = {
        "MessageSid": outbound,
        "AccountSid": sid,
        "From": f"whatsapp:{number}",
        "To": to,
        "MessageStatus": "undelivered",
        "ErrorCode": "63016",
    }
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        repeat = await client.post(
            "/webhooks/twilio/status",
            data=again,
            headers={"x-twilio-signature": twilio_signature(token, callback, again)},
        )
    assert repeat.status_code == 204
    await asyncio.sleep(1.0)
    timeline = await _timeline_answer(stack, inbound, lambda b: True)
    receipts = [
        e["summary"] for e in timeline["events"] if e["event_type"] == "DeliveryStatusReported"
    ]
    assert [r["status"] for r in receipts] == ["queued", "sent", "undelivered"]
    assert receipts[-1]["reason"] == "window_closed" and receipts[-1]["error_codes"] == [63016]
