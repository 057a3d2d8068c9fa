"""Helpers for the media e2e tests: tenants, signed media webhooks, media on the fakes,
the tenant's media settings on the config topic, and waiting for MediaResolved."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from shared.contracts.config_events import MediaSettingsChanged, config_event_key
from shared.contracts.media import MediaResolved
from shared.contracts.topics import CONFIG_CHANGES, MESSAGES_MEDIA
from tests.support.kafka import read_topic
from tests.support.providers import meta_signature, twilio_signature, whatsapp_payload
from tests.support.stack import Stack, random_number


@dataclass(frozen=True)
class WhatsAppTenant:
    user_id: uuid.UUID
    number: str
    number_id: str
    token: str
    secret: str
    key: str


@dataclass(frozen=True)
class TwilioTenant:
    user_id: uuid.UUID
    number: str
    account_sid: str
    auth_token: str
    key: str


async def whatsapp_tenant(stack: Stack) -> WhatsAppTenant:
    user_id, number = uuid.uuid4(), random_number()
    number_id, token = f"PN{uuid.uuid4().hex[:12]}", f"EAAtok{uuid.uuid4().hex}"
    secret, key = f"app-secret-{uuid.uuid4().hex}", f"gsk_media_{uuid.uuid4().hex}"
    await stack.put_whatsapp(user_id, number, number_id, access_token=token, app_secret=secret)
    await stack.put_groq(user_id, key)
    return WhatsAppTenant(user_id, number, number_id, token, secret, key)


async def twilio_tenant(stack: Stack) -> TwilioTenant:
    user_id, number = uuid.uuid4(), random_number()
    sid, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    body = {"account_sid": sid, "auth_token": token, "phone_number": number}
    response = await stack.config_call("PUT", "/v1/me/twilio-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    key = f"gsk_tw_media_{uuid.uuid4().hex}"
    await stack.put_groq(user_id, key)
    return TwilioTenant(user_id, number, sid, token, key)


async def put_media_settings(stack: Stack, event: MediaSettingsChanged) -> None:
    """The tenant's media settings as the config service publishes them (its
    `/v1/me/media-settings` is being built in parallel); waits until the media service
    applied them."""
    assert stack.media is not None
    producer = AIOKafkaProducer(bootstrap_servers=stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            CONFIG_CHANGES.name,
            event.model_dump_json().encode(),
            key=config_event_key(event).encode(),
            headers=[("event-type", b"MediaSettingsChanged")],
        )
    finally:
        await producer.stop()
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient(timeout=2) as client:
        while (await client.get(stack.media.url + "/readyz")).json().get(
            "config_version", -1
        ) < sent.offset:
            assert time.monotonic() < deadline, "media service did not apply the settings"
            await asyncio.sleep(0.05)


async def fake_post(url: str, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        (await client.post(path, json=body)).raise_for_status()


async def fake_get(url: str, path: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        result: list[dict[str, Any]] = (await client.get(path)).json()
        return result


async def register_graph_media(
    stack: Stack, media_id: str, token: str, content: bytes, mime: str
) -> None:
    body = {
        "media_id": media_id,
        "token": token,
        "mime_type": mime,
        "content_b64": base64.b64encode(content).decode(),
    }
    await fake_post(stack.fake_graph.url, "/_fake/media", body)


async def whatsapp_webhook(stack: Stack, tenant: WhatsAppTenant, message: dict[str, Any]) -> None:
    body = whatsapp_payload(tenant.number_id, tenant.number, [message])
    headers = {
        "content-type": "application/json",
        "x-hub-signature-256": meta_signature(body, tenant.secret),
    }
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        response = await client.post("/webhooks/whatsapp", content=body, headers=headers)
        assert response.status_code == 200


async def twilio_webhook(stack: Stack, tenant: TwilioTenant, params: dict[str, str]) -> None:
    url = f"{stack.gateway.url}/webhooks/twilio"
    headers = {"x-twilio-signature": twilio_signature(tenant.auth_token, url, params)}
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(url, data=params, headers=headers)).status_code == 200


async def resolved(stack: Stack, message_id: str, timeout: float = 60) -> list[MediaResolved]:
    bootstrap = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    deadline = time.monotonic() + timeout
    while True:
        found = [
            MediaResolved.model_validate_json(value)
            for _, _, value in await read_topic(bootstrap, MESSAGES_MEDIA.name)
            if json.loads(value).get("message_id") == message_id
        ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


async def media_records(stack: Stack, message_id: str) -> list[bytes]:
    """The raw MediaResolved records of one message, to search for secrets."""
    bootstrap = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    return [
        value
        for _, _, value in await read_topic(bootstrap, MESSAGES_MEDIA.name)
        if json.loads(value).get("message_id") == message_id
    ]


async def graph_sends_to(
    stack: Stack, customer: str, count: int = 1, timeout: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        sends = [
            r
            for r in await stack.fake_requests(stack.fake_graph)
            if r["body"].get("to") == customer.removeprefix("+")
        ]
        if len(sends) >= count or time.monotonic() > deadline:
            return sends
        await asyncio.sleep(0.3)


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF whose page shows `text` (ASCII) in Helvetica."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out
