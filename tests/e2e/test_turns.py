"""Turns end to end: signed WhatsApp webhooks through the real services to the fake Graph
API, with the tenant's quiet window set by its ConversationSettingsChanged (published here
as the config service would) and owner changes published on conversations.owner.v1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from shared.contracts.config_events import ConversationSettingsChanged
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    owner_key,
)
from shared.contracts.topics import CONFIG_CHANGES, CONVERSATION_OWNERS
from tests.support.db import rows
from tests.support.kafka import read_topic
from tests.support.processes import another_replica
from tests.support.providers import meta_signature, text_message, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


class Tenant:
    def __init__(
        self, user_id: uuid.UUID, number_id: str, number: str, key: str, secret: str, token: str
    ):
        self.user_id, self.number_id, self.number = user_id, number_id, number
        self.key, self.secret, self.token = key, secret, token


async def _publish(stack: Stack, topic: str, key: str, event: BaseModel) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.responder.env["KAFKA_BOOTSTRAP_SERVERS"], acks="all"
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, event.model_dump_json().encode(), key=key.encode()
        )
    finally:
        await producer.stop()
    return int(sent.offset)


async def _tenant(stack: Stack, quiet_ms: int = 2000) -> Tenant:
    user_id, number = uuid.uuid4(), random_number()
    number_id, secret = f"PN{uuid.uuid4().hex[:12]}", f"app-secret-{uuid.uuid4().hex}"
    token = f"EAAtok{uuid.uuid4().hex}"
    body = {
        "phone_number_id": number_id,
        "display_phone_number": number,
        "access_token": token,
        "app_secret": secret,
        "verify_token": f"vt-{user_id}",
    }
    response = await stack.config_call("PUT", "/v1/me/whatsapp-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    key = f"gsk_turn_{uuid.uuid4().hex}"
    await stack.put_groq(user_id, key)
    settings = ConversationSettingsChanged(user_id=user_id, turn_quiet_ms=quiet_ms, version=1)
    offset = await _publish(
        stack, CONFIG_CHANGES.name, f"ConversationSettingsChanged:{user_id}", settings
    )
    await stack.wait_config_applied(offset)
    return Tenant(user_id, number_id, number, key, secret, token)


async def _owner(stack: Stack, change: ConversationOwnerChanged) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        before = (await client.get(stack.responder.url + "/readyz")).json()["owner_changes"]
        await _publish(stack, CONVERSATION_OWNERS.name, owner_key(change), change)
        deadline = time.monotonic() + 10
        while (await client.get(stack.responder.url + "/readyz")).json()["owner_changes"] <= before:
            assert time.monotonic() < deadline, "the responder did not see the owner change"
            await asyncio.sleep(0.05)


async def _say(stack: Stack, tenant: Tenant, customer: str, text: str) -> str:
    message_id = wamid()
    await _post_message(stack, tenant, text_message(customer, text, message_id))
    return message_id


async def _post_message(stack: Stack, tenant: Tenant, message: dict[str, Any]) -> None:
    body = whatsapp_payload(tenant.number_id, tenant.number, [message])
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        response = await client.post(
            "/webhooks/whatsapp",
            content=body,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": meta_signature(body, tenant.secret),
            },
        )
    assert response.status_code == 200, response.text


async def _sends(stack: Stack, customer: str) -> list[dict[str, Any]]:
    to = customer.removeprefix("+")
    return [r for r in await stack.fake_requests(stack.fake_graph) if r["body"].get("to") == to]


async def _calls(stack: Stack, tenant: Tenant) -> list[dict[str, Any]]:
    return [
        r for r in await stack.groq_requests() if r.get("authorization") == f"Bearer {tenant.key}"
    ]


async def _until(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def _user_texts(call: dict[str, Any]) -> list[str]:
    return [m["content"] for m in call["body"]["messages"] if m["role"] == "user"]


async def _settled_sends(stack: Stack, customer: str, count: int) -> list[dict[str, Any]]:
    """Wait for `count` sends, then long enough for a wrong extra one to show up."""
    await _until(lambda: _at_least(stack, customer, count), timeout=40)
    await asyncio.sleep(3)
    return await _sends(stack, customer)


async def _at_least(stack: Stack, customer: str, count: int) -> bool:
    return len(await _sends(stack, customer)) >= count


async def test_three_messages_500_ms_apart_get_one_model_call_and_one_reply(
    stack: Stack,
) -> None:
    tenant, customer = await _tenant(stack), random_number()
    texts = [f"hi {uuid.uuid4()}", "I ordered yesterday", f"order {uuid.uuid4().hex[:6]}"]
    ids = []
    for text in texts:
        ids.append(await _say(stack, tenant, customer, text))
        await asyncio.sleep(0.5)

    [sent] = await _settled_sends(stack, customer, 1)
    [call] = await _calls(stack, tenant)
    assert _user_texts(call)[-3:] == texts
    assert texts[-1] in sent["body"]["text"]["body"]
    stored = await rows(
        stack.database_url,
        "select message_id, sender from customer_conversations where message_id = any(:ids)",
        ids=ids,
    )
    assert sorted((r["message_id"], r["sender"]) for r in stored) == sorted(
        [(i, "user") for i in ids] + [(ids[-1], "bot")]
    )


async def test_a_responder_killed_mid_turn_still_answers_the_turn_once(stack: Stack) -> None:
    tenant, customer = await _tenant(stack), random_number()
    texts = [f"one {uuid.uuid4()}", "two", f"three {uuid.uuid4().hex[:6]}"]
    await _say(stack, tenant, customer, texts[0])
    await asyncio.sleep(0.5)
    await _say(stack, tenant, customer, texts[1])
    await asyncio.sleep(0.3)  # the second message joins its turn
    stack.responder.kill()
    try:
        await asyncio.sleep(0.2)
        await _say(stack, tenant, customer, texts[2])  # gateway and identity are up
    finally:
        stack.responder.start()
        await asyncio.to_thread(stack.responder.wait_ready)

    [sent] = await _settled_sends(stack, customer, 1)
    [call] = await _calls(stack, tenant)
    assert _user_texts(call)[-3:] == texts
    assert texts[-1] in sent["body"]["text"]["body"]


async def test_a_message_during_generation_supersedes_the_stale_reply(stack: Stack) -> None:
    tenant, customer = await _tenant(stack), random_number()
    await stack.groq_control("/_fake/keys", {"key": tenant.key, "status": 200, "delay_s": 3})
    texts = [f"a {uuid.uuid4()}", "b", "c", f"d {uuid.uuid4().hex[:6]}"]
    for text in texts[:3]:
        await _say(stack, tenant, customer, text)
        await asyncio.sleep(0.5)
    assert await _until(lambda: _calls(stack, tenant)), "the turn was never generated"
    await _say(stack, tenant, customer, texts[3])

    [sent] = await _settled_sends(stack, customer, 1)
    calls = await _calls(stack, tenant)
    assert len(calls) == 2
    assert _user_texts(calls[0])[-3:] == texts[:3]
    assert _user_texts(calls[1])[-4:] == texts
    assert texts[3] in sent["body"]["text"]["body"]


async def test_a_paused_tenant_stores_without_answering_until_resumed(stack: Stack) -> None:
    tenant, customer = await _tenant(stack, quiet_ms=500), random_number()

    def switch(owner: ConversationOwner) -> ConversationOwnerChanged:
        return ConversationOwnerChanged(
            user_id=tenant.user_id,
            conversation_key=None,
            owner=owner,
            changed_by=OwnerChangedBy.TENANT_API,
        )

    await _owner(stack, switch(ConversationOwner.PAUSED))
    paused = await _say(stack, tenant, customer, f"anyone? {uuid.uuid4()}")
    await asyncio.sleep(3)
    assert await _sends(stack, customer) == []
    assert await _calls(stack, tenant) == []
    [row] = await rows(
        stack.database_url,
        "select sender from customer_conversations where message_id = :id",
        id=paused,
    )
    assert row["sender"] == "user"

    await _owner(stack, switch(ConversationOwner.BOT))
    later = f"back? {uuid.uuid4()}"
    await _say(stack, tenant, customer, later)
    [sent] = await _settled_sends(stack, customer, 1)
    assert later in sent["body"]["text"]["body"]


async def test_asking_for_a_human_hands_off_without_a_model_call(stack: Stack) -> None:
    tenant, customer = await _tenant(stack, quiet_ms=500), random_number()
    asked = await _say(stack, tenant, customer, "Je voudrais parler à un humain svp")

    [ack] = await _settled_sends(stack, customer, 1)
    assert ack["body"]["text"]["body"].startswith("Bien sûr")
    assert await _calls(stack, tenant) == []
    changes = [
        ConversationOwnerChanged.model_validate_json(value)
        for _, _, value in await read_topic(
            stack.responder.env["KAFKA_BOOTSTRAP_SERVERS"], CONVERSATION_OWNERS.name
        )
    ]
    [change] = [c for c in changes if c.message_id == asked]
    assert change.owner is ConversationOwner.HUMAN
    assert change.changed_by is OwnerChangedBy.CUSTOMER_REQUEST
    assert change.until is not None and change.until > datetime.now(UTC) + timedelta(hours=11)

    await _say(stack, tenant, customer, "hello?")  # a human answers now
    await asyncio.sleep(3)
    assert len(await _sends(stack, customer)) == 1
    assert await _calls(stack, tenant) == []


async def test_when_the_human_s_time_expires_the_bot_answers_again(stack: Stack) -> None:
    tenant, customer = await _tenant(stack, quiet_ms=500), random_number()
    until = datetime.now(UTC) + timedelta(seconds=4)
    await _owner(
        stack,
        ConversationOwnerChanged(
            user_id=tenant.user_id,
            conversation_key=None,
            owner=ConversationOwner.HUMAN,
            until=until,
            changed_by=OwnerChangedBy.BUSINESS_ECHO,
        ),
    )
    await _say(stack, tenant, customer, "during")
    await asyncio.sleep(2)
    assert await _sends(stack, customer) == []
    await asyncio.sleep(max((until - datetime.now(UTC)).total_seconds(), 0) + 0.5)
    after = f"after {uuid.uuid4()}"
    await _say(stack, tenant, customer, after)
    [sent] = await _settled_sends(stack, customer, 1)
    assert after in sent["body"]["text"]["body"]


async def test_text_voice_note_text_make_one_turn_in_arrival_order(stack: Stack) -> None:
    tenant, customer = await _tenant(stack), random_number()
    voice = b"OggS\x00\x02turn-voice-note" + uuid.uuid4().bytes
    media_id = f"MID{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=stack.fake_graph.url, timeout=5) as client:
        registered = await client.post(
            "/_fake/media",
            json={
                "media_id": media_id,
                "token": tenant.token,
                "mime_type": "audio/ogg",
                "content_b64": base64.b64encode(voice).decode(),
            },
        )
        assert registered.status_code == 200
    digest = hashlib.sha256(voice).hexdigest()
    first, last = f"hello {uuid.uuid4()}", f"thanks {uuid.uuid4().hex[:6]}"

    await _say(stack, tenant, customer, first)
    await asyncio.sleep(1)
    note = {
        "from": customer.removeprefix("+"),
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "audio",
        "audio": {"id": media_id, "mime_type": "audio/ogg; codecs=opus", "voice": True}
        | {"sha256": digest},
    }
    await _post_message(stack, tenant, note)
    await asyncio.sleep(1)
    await _say(stack, tenant, customer, last)

    [sent] = await _settled_sends(stack, customer, 1)
    # One reply for the turn. On a loaded machine the pipeline may bring the last text after
    # the turn came due (the voice note's window is 4 s): that generation is superseded and
    # not sent, and the one reply's call holds all three in order.
    calls = await _calls(stack, tenant)
    assert _user_texts(calls[-1])[-3:] == [first, f"transcript of {digest[:8]} audio.ogg", last]
    assert last in sent["body"]["text"]["body"]
    [row] = await rows(
        stack.database_url,
        "select content from customer_conversations where message_id = :id and sender = 'user'",
        id=note["id"],
    )
    assert row["content"] == f"transcript of {digest[:8]} audio.ogg"


async def test_two_responder_replicas_answer_each_turn_once(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log_dir = tmp_path_factory.mktemp("responder-2")
    async with another_replica(stack.responder, "RESPONDER_PORT", log_dir):
        tenant = await _tenant(stack)
        customers = [random_number() for _ in range(6)]
        texts = {c: [f"{c} first", "second", f"{c} last {uuid.uuid4().hex[:6]}"] for c in customers}
        for n in range(3):
            await asyncio.gather(*(_say(stack, tenant, c, texts[c][n]) for c in customers))
            await asyncio.sleep(0.5)
        for customer in customers:
            [sent] = await _settled_sends(stack, customer, 1)
            assert texts[customer][-1] in sent["body"]["text"]["body"]
        calls = await _calls(stack, tenant)
        for customer in customers:
            # The reply's call held the customer's whole turn, in order.
            assert any(_user_texts(call)[-3:] == texts[customer] for call in calls), customer


async def test_the_model_s_structured_handoff_gives_the_conversation_to_a_person(
    stack: Stack,
) -> None:
    """The default model takes Groq's structured outputs: the turn asks for {reply, action}
    and an answer with action=handoff is sent, then hands the conversation over."""
    tenant, customer = await _tenant(stack, quiet_ms=500), random_number()
    await stack.groq_control("/_fake/action", {"key": tenant.key, "action": "handoff"})
    asked = await _say(stack, tenant, customer, "my parcel arrived broken")

    [sent] = await _settled_sends(stack, customer, 1)
    assert sent["body"]["text"]["body"].endswith("reply to: my parcel arrived broken")
    [call] = await _calls(stack, tenant)
    assert call["body"]["response_format"]["type"] == "json_schema"
    assert call["body"]["response_format"]["json_schema"]["strict"] is True
    changes = [
        ConversationOwnerChanged.model_validate_json(value)
        for _, _, value in await read_topic(
            stack.responder.env["KAFKA_BOOTSTRAP_SERVERS"], CONVERSATION_OWNERS.name
        )
    ]
    [change] = [c for c in changes if c.message_id == asked]
    assert change.owner is ConversationOwner.HUMAN
    assert change.changed_by is OwnerChangedBy.MODEL_HANDOFF

    await _say(stack, tenant, customer, "hello?")  # a human answers now
    await asyncio.sleep(3)
    assert len(await _sends(stack, customer)) == 1
    assert len(await _calls(stack, tenant)) == 1
