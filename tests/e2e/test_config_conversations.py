"""Conversation and media settings, conversation owners, the conversations list and the
timeline entries of issues 14 and 15, against the running stack (real Kafka, PostgreSQL,
services as processes; only Meta's Graph API is the fake)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts.config_events import ConversationSettingsChanged, MediaSettingsChanged
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    TurnStarted,
    owner_key,
)
from shared.contracts.messages import Channel
from shared.contracts.topics import CONFIG_CHANGES, CONVERSATION_OWNERS, MESSAGE_OUTCOMES
from tests.support.db import engine_for
from tests.support.kafka import read_topic
from tests.support.providers import meta_signature, text_message, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e
Tenant = tuple[uuid.UUID, str, str, str]  # user, display number, number id, app secret


async def _eventually(
    probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 30
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if ok(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def _tenant(stack: Stack) -> Tenant:
    user, number = uuid.uuid4(), random_number()
    number_id, secret = f"PN{uuid.uuid4().hex[:12]}", f"app-secret-{uuid.uuid4().hex}"
    await stack.put_whatsapp(user, number, number_id, app_secret=secret)
    await stack.put_groq(user, f"gsk_conv_{uuid.uuid4().hex}")
    return user, number, number_id, secret


async def _webhook(stack: Stack, tenant: Tenant, messages: list[dict[str, Any]]) -> None:
    _, number, number_id, secret = tenant
    body = whatsapp_payload(number_id, number, messages)
    headers = {
        "content-type": "application/json",
        "x-hub-signature-256": meta_signature(body, secret),
    }
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        response = await client.post("/webhooks/whatsapp", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def _get(stack: Stack, user: uuid.UUID, path: str) -> httpx.Response:
    return await stack.config_call("GET", path, stack.user(user))


async def _conversations(stack: Stack, user: uuid.UUID) -> dict[str, Any]:
    response = await _get(stack, user, "/v1/me/conversations?limit=50")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _conversation_of(
    stack: Stack, user: uuid.UUID, customer: str, ok: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        items = (await _conversations(stack, user))["items"]
        return next((c for c in items if c["customer_phone"] == customer), None)

    found = await _eventually(probe, lambda c: c is not None and ok(c))
    assert found is not None, f"no conversation with {customer}"
    assert ok(found), found
    result: dict[str, Any] = found
    return result


async def _records(stack: Stack, topic: str, key: str) -> list[dict[str, Any]]:
    bootstrap = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    found = []
    for _, _, value in await read_topic(bootstrap, topic):
        event = json.loads(value)
        if (
            event.get("conversation_key") == key
            or f"{event.get('event_type')}:{event.get('user_id')}" == key
        ):
            found.append(event)
    return found


# Settings ---------------------------------------------------------------------------------
async def test_conversation_and_media_settings_round_trip_with_events_and_audit(
    stack: Stack,
) -> None:
    user = uuid.uuid4()
    defaults = (await _get(stack, user, "/v1/me/conversation-settings")).json()
    assert (defaults["turn_quiet_ms"], defaults["turn_max_ms"], defaults["updated_at"]) == (
        2000,
        8000,
        None,
    )
    assert (await _get(stack, user, "/v1/me/media-settings")).json()["updated_at"] is None

    body = {
        "turn_quiet_ms": 1200,
        "turn_max_ms": 5000,
        "read_receipts": False,
        "human_expiry_s": 900,
        "handoff_phrases": ["un humain svp", "real person"],
        "reengagement_template": "we_miss_you",
        "template_language": "fr",
    }
    put = await stack.config_call("PUT", "/v1/me/conversation-settings", stack.user(user), body)
    assert put.status_code == 200, put.text
    media = {"vision_model": "llama-vision-test", "polite_texts": {"audio": "Écrivez-moi."}}
    put_media = await stack.config_call("PUT", "/v1/me/media-settings", stack.user(user), media)
    assert put_media.status_code == 200, put_media.text

    stored = (await _get(stack, user, "/v1/me/conversation-settings")).json()
    assert {k: stored[k] for k in body} == body and stored["updated_at"] is not None
    stored_media = (await _get(stack, user, "/v1/me/media-settings")).json()
    assert stored_media["vision_model"] == "llama-vision-test"
    assert stored_media["polite_texts"] == {"audio": "Écrivez-moi."}

    [conversation_event] = await _records(
        stack, CONFIG_CHANGES.name, f"ConversationSettingsChanged:{user}"
    )
    event = ConversationSettingsChanged.model_validate(conversation_event)
    assert (event.turn_quiet_ms, event.read_receipts, event.version) == (1200, False, 1)
    assert event.handoff_phrases == ["un humain svp", "real person"]
    [media_event] = await _records(stack, CONFIG_CHANGES.name, f"MediaSettingsChanged:{user}")
    assert MediaSettingsChanged.model_validate(media_event).vision_model == "llama-vision-test"

    audit = (await _get(stack, user, "/v1/me/audit")).json()["items"]
    entities = {(e["entity"], e["action"]) for e in audit}
    assert {("conversation_settings", "created"), ("media_settings", "created")} <= entities


async def test_invalid_settings_are_422_and_change_nothing(stack: Stack) -> None:
    user = uuid.uuid4()
    for path, body in [
        ("/v1/me/conversation-settings", {"turn_quiet_ms": 70000}),
        ("/v1/me/conversation-settings", {"reengagement_template": "Not A Name!"}),
        ("/v1/me/conversation-settings", {"handoff_phrases": ["x"] * 51}),
        ("/v1/me/media-settings", {"polite_texts": {"audio": "y" * 1001}}),
        ("/v1/me/media-settings", {"language_hint": "french"}),
    ]:
        response = await stack.config_call("PUT", path, stack.user(user), body)
        assert response.status_code == 422, (path, body, response.text)
    assert (await _get(stack, user, "/v1/me/conversation-settings")).json()["updated_at"] is None
    assert (await _get(stack, user, "/v1/me/media-settings")).json()["updated_at"] is None
    assert await _records(stack, CONFIG_CHANGES.name, f"ConversationSettingsChanged:{user}") == []


# Conversations and owners -----------------------------------------------------------------
async def test_conversations_list_traffic_and_owner_changes_with_audit(stack: Stack) -> None:
    tenant = await _tenant(stack)
    user = tenant[0]
    customer = random_number()
    await _webhook(stack, tenant, [text_message(customer, "bonjour")])
    await _webhook(stack, tenant, [text_message(customer, "commande 4411")])

    conversation = await _conversation_of(stack, user, customer, lambda c: c["message_count"] == 2)
    key = conversation["conversation_key"]
    assert conversation["channel"] == "whatsapp" and conversation["last_message_at"]
    assert conversation["owner"]["owner"] == "bot" and conversation["owner"]["changed_by"] is None

    paused = await stack.config_call(
        "PUT", f"/v1/me/conversations/{key}/owner", stack.user(user), {"owner": "paused"}
    )
    assert paused.status_code == 200, paused.text
    [published] = await _eventually(
        lambda: _records(stack, CONVERSATION_OWNERS.name, key), lambda found: len(found) == 1
    )
    event = ConversationOwnerChanged.model_validate(published)
    assert owner_key(event) == key and event.user_id == user
    assert (event.owner, event.changed_by, event.actor) == (
        ConversationOwner.PAUSED,
        OwnerChangedBy.TENANT_API,
        str(user),
    )
    assert event.until is not None  # the default expiry, 12 h

    listed = await _conversation_of(
        stack, user, customer, lambda c: c["owner"]["owner"] == "paused"
    )
    assert listed["owner"]["changed_by"] == "tenant_api" and listed["owner"]["actor"] == str(user)
    assert listed["message_count"] == 2

    everyone = await stack.config_call(
        "PUT", "/v1/me/conversations/owner", stack.user(user), {"owner": "human", "until": None}
    )
    assert everyone.status_code == 200, everyone.text
    page = await _eventually(
        lambda: _conversations(stack, user), lambda p: p["tenant_owner"] is not None
    )
    assert page["tenant_owner"]["owner"] == "human" and page["tenant_owner"]["until"] is None

    audit = (await _get(stack, user, "/v1/me/audit")).json()["items"]
    owners = [e for e in audit if e["entity"] == "conversation_owner"]
    assert len(owners) == 2 and all(e["actor_id"] == str(user) for e in owners)


async def test_tenants_never_see_or_change_each_others_conversations(stack: Stack) -> None:
    a, b = await _tenant(stack), await _tenant(stack)
    customer = random_number()
    await _webhook(stack, a, [text_message(customer, "hello")])
    key = (await _conversation_of(stack, a[0], customer, lambda c: True))["conversation_key"]
    await stack.config_call(
        "PUT", "/v1/me/media-settings", stack.user(a[0]), {"vision_model": "a-vision"}
    )

    stolen = await stack.config_call(
        "PUT", f"/v1/me/conversations/{key}/owner", stack.user(b[0]), {"owner": "paused"}
    )
    assert stolen.status_code == 404 and stolen.json() == {"detail": "no such conversation"}
    unknown = await stack.config_call(
        "PUT",
        "/v1/me/conversations/whatsapp:-:+10000000000/owner",
        stack.user(b[0]),
        {"owner": "paused"},
    )
    assert unknown.status_code == 404 and unknown.json() == stolen.json()  # indistinguishable
    assert (await _conversations(stack, b[0]))["items"] == []
    assert (await _get(stack, b[0], "/v1/me/media-settings")).json()["vision_model"] is None
    assert await _records(stack, CONVERSATION_OWNERS.name, key) == []

    async with _as_tenant(stack.database_url, b[0]) as connection:
        for table in ("conversations", "conversation_tenant_owner", "media_settings"):
            rows = await connection.execute(text(f"select user_id from {table}"))  # noqa: S608
            assert {row[0] for row in rows} <= {b[0]}, table
        with pytest.raises(DBAPIError, match="permission denied"):
            async with connection.begin_nested():
                await connection.execute(text("update conversations set owner = 'bot'"))
    async with _as_tenant(stack.database_url, a[0]) as connection:
        rows = await connection.execute(text("select conversation_key from conversations"))
        assert key in {row[0] for row in rows}


@asynccontextmanager
async def _as_tenant(url: str, tenant: uuid.UUID) -> AsyncIterator[AsyncConnection]:
    async with engine_for(url) as engine, engine.connect() as connection:
        transaction = await connection.begin()
        try:
            await connection.execute(text("set local role config_api"))
            await connection.execute(
                text("select set_config('app.user_id', :u, true)"), {"u": str(tenant)}
            )
            yield connection
        finally:
            await transaction.rollback()


# Timeline ---------------------------------------------------------------------------------
async def _timeline(stack: Stack, message_id: str, wanted: str) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
            response = await client.get(
                f"/v1/admin/messages/{message_id}/timeline", headers=stack.admin()
            )
        return response.json()["events"] if response.status_code == 200 else []

    events: list[dict[str, Any]] = await _eventually(
        probe, lambda found: any(e["event_type"] == wanted for e in found), timeout=30
    )
    return events


async def test_media_resolved_reaches_the_messages_timeline(stack: Stack) -> None:
    tenant = await _tenant(stack)
    message_id = wamid()
    message: dict[str, Any] = {
        "from": random_number().removeprefix("+"),
        "id": message_id,
        "type": "image",
        "image": {"id": f"IMG{uuid.uuid4().hex}", "mime_type": "image/jpeg", "caption": "facture"},
    }
    await _webhook(stack, tenant, [message])

    events = await _timeline(stack, message_id, "MediaResolved")
    [media] = [e for e in events if e["event_type"] == "MediaResolved"]
    assert media["service"] == "media" and media["user_id"] == str(tenant[0])
    assert media["summary"]["kind"] == "image" and media["summary"]["outcome"] == "unsupported"
    assert "image_data_url" not in media["summary"]


async def test_a_turn_and_an_owner_change_caused_by_a_message_show_in_its_timeline(
    stack: Stack,
) -> None:
    tenant = await _tenant(stack)
    customer, inbound = random_number(), wamid()
    await _webhook(stack, tenant, [text_message(customer, "je veux un humain", inbound)])
    key = (await _conversation_of(stack, tenant[0], customer, lambda c: True))["conversation_key"]
    # As the responder publishes it when a customer asks for a person (issue 14).
    event = ConversationOwnerChanged(
        user_id=tenant[0],
        conversation_key=key,
        owner=ConversationOwner.HUMAN,
        changed_by=OwnerChangedBy.CUSTOMER_REQUEST,
        message_id=inbound,
        reason="handoff phrase",
    )
    # As the responder publishes it when the model starts on the turn (issue 14).
    turn = TurnStarted(
        message_id=inbound,
        conversation_key=key,
        user_id=tenant[0],
        channel=Channel.WHATSAPP,
        customer_phone=customer,
        turn_message_ids=[inbound],
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        for topic, published in ((MESSAGE_OUTCOMES.name, turn), (CONVERSATION_OWNERS.name, event)):
            await producer.send_and_wait(
                topic, published.model_dump_json().encode(), key=key.encode()
            )
    finally:
        await producer.stop()

    turns = await _timeline(stack, inbound, "TurnStarted")
    [started] = [e for e in turns if e["event_type"] == "TurnStarted"]
    assert started["service"] == "responder"
    assert started["summary"] == {"channel": "whatsapp", "turn_message_ids": [inbound]}
    events = await _timeline(stack, inbound, "ConversationOwnerChanged")
    [change] = [e for e in events if e["event_type"] == "ConversationOwnerChanged"]
    assert change["service"] == "responder"
    assert change["summary"]["owner"] == "human"
    assert change["summary"]["changed_by"] == "customer_request"
    listed = await _conversation_of(
        stack, tenant[0], customer, lambda c: c["owner"]["owner"] == "human"
    )
    assert listed["owner"]["reason"] == "handoff phrase"
