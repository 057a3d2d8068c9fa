"""Media webhooks → the media service → one MediaResolved on messages.media.v1.

The Graph fake serves the voice note with the tenant's token only; the Groq fake derives
the transcript from the uploaded file, so the event's text proves which bytes and which
file name were sent, and its request log which key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from typing import Any

import httpx
import pytest

import services.responder
from shared.contracts.media import MediaOutcome
from tests.support.media import resolved
from tests.support.providers import meta_signature, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e
RESPONDER_HANDLES_MEDIA = getattr(services.responder, "MEDIA_AWARE", False)
VOICE = b"OggS\x00\x02fake-opus-voice-note" + bytes(range(200))


async def _tenant(stack: Stack) -> tuple[str, str, str, str, str]:
    user_id, number = uuid.uuid4(), random_number()
    number_id, token = f"PN{uuid.uuid4().hex[:12]}", f"EAAtok{uuid.uuid4().hex}"
    secret, key = f"app-secret-{uuid.uuid4().hex}", f"gsk_media_{uuid.uuid4().hex}"
    await stack.put_whatsapp(user_id, number, number_id, access_token=token, app_secret=secret)
    await stack.put_groq(user_id, key)
    return number, number_id, token, secret, key


async def _fake(stack: Stack, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=stack.fake_graph.url, timeout=5) as client:
        assert (await client.post(path, json=body)).status_code == 200


async def _webhook(
    stack: Stack, number: str, number_id: str, secret: str, msg: dict[str, Any]
) -> None:
    body = whatsapp_payload(number_id, number, [msg])
    headers = {
        "content-type": "application/json",
        "x-hub-signature-256": meta_signature(body, secret),
    }
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        assert (
            await client.post("/webhooks/whatsapp", content=body, headers=headers)
        ).status_code == 200


async def _audio_requests(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.fake_groq.url, timeout=5) as client:
        result: list[dict[str, Any]] = (await client.get("/_fake/audio/requests")).json()
        return result


def _voice(media_id: str, sha: str | None = None) -> dict[str, Any]:
    audio = {"id": media_id, "mime_type": "audio/ogg; codecs=opus", "voice": True}
    return {
        "from": random_number().removeprefix("+"),
        "id": wamid(),
        "type": "audio",
        "audio": {**audio, "sha256": sha or hashlib.sha256(VOICE).hexdigest()},
    }


async def _register(stack: Stack, media_id: str, token: str, content: bytes, mime: str) -> None:
    body = {
        "media_id": media_id,
        "token": token,
        "mime_type": mime,
        "content_b64": base64.b64encode(content).decode(),
    }
    await _fake(stack, "/_fake/media", body)


async def test_voice_note_is_fetched_with_the_tenants_token_and_transcribed(stack: Stack) -> None:
    number, number_id, token, secret, key = await _tenant(stack)
    media_id = f"MID{uuid.uuid4().hex}"
    await _register(stack, media_id, token, VOICE, "audio/ogg")
    await _fake(stack, "/_fake/media/expire", {"times": 1})  # the first URL has expired
    message = _voice(media_id)
    await _webhook(stack, number, number_id, secret, message)

    [event] = await resolved(stack, message["id"])
    digest = hashlib.sha256(VOICE).hexdigest()
    assert event.outcome is MediaOutcome.TRANSCRIBED
    assert event.text == f"transcript of {digest[:8]} audio.ogg"
    assert event.language == "fr" and event.audio_seconds == 10.0  # billed at least 10 s
    sent = [r for r in await _audio_requests(stack) if r["sha256"] == digest]
    assert sent and all(r["authorization"] == f"Bearer {key}" for r in sent)
    assert sent[0]["filename"] == "audio.ogg" and sent[0]["model"] == "whisper-large-v3-turbo"
    async with httpx.AsyncClient(base_url=stack.fake_graph.url, timeout=5) as client:
        seen = (await client.get("/_fake/media/requests")).json()
    metadata = [r for r in seen if r.get("media_id") == media_id]
    assert len(metadata) == 2  # the expired URL was refetched once
    raw = event.model_dump_json()
    assert token not in raw and key not in raw and "/_media/dl/" not in raw
    assert stack.media is not None
    logs = stack.media.log_text() + stack.gateway.log_text()
    assert token not in logs and key not in logs and "/_media/dl/" not in logs


async def test_oversize_and_sha_mismatch_fail_with_a_reason_and_polite_text(stack: Stack) -> None:
    number, number_id, token, secret, _ = await _tenant(stack)
    big_id, bad_id = f"MID{uuid.uuid4().hex}", f"MID{uuid.uuid4().hex}"
    await _register(stack, big_id, token, b"\0" * (16 * 1024 * 1024 + 1), "audio/ogg")
    await _register(stack, bad_id, token, VOICE, "audio/ogg")
    big, bad = _voice(big_id), _voice(bad_id, sha="0" * 64)
    await _webhook(stack, number, number_id, secret, big)
    await _webhook(stack, number, number_id, secret, bad)

    [too_large] = await resolved(stack, big["id"])
    [mismatch] = await resolved(stack, bad["id"])
    assert (too_large.outcome, too_large.reason) == (MediaOutcome.FAILED, "too_large")
    assert (mismatch.outcome, mismatch.reason) == (MediaOutcome.FAILED, "sha256_mismatch")
    assert too_large.fallback_text and "vocal" in too_large.fallback_text  # French default


async def test_image_without_a_vision_model_gets_the_polite_text(stack: Stack) -> None:
    number, number_id, _, secret, _ = await _tenant(stack)
    message: dict[str, Any] = {
        "from": random_number().removeprefix("+"),
        "id": wamid(),
        "type": "image",
        "image": {
            "id": f"IMG{uuid.uuid4().hex}",
            "mime_type": "image/jpeg",
            "caption": "ma facture",
        },
    }
    await _webhook(stack, number, number_id, secret, message)
    [event] = await resolved(stack, message["id"])
    assert event.outcome is MediaOutcome.UNSUPPORTED and event.caption == "ma facture"
    assert event.fallback_text and event.image_data_url is None


@pytest.mark.skipif(not RESPONDER_HANDLES_MEDIA, reason="the responder's media turns (14a)")
async def test_voice_note_gets_one_reply_from_its_transcript(stack: Stack) -> None:
    number, number_id, token, secret, _ = await _tenant(stack)
    media_id = f"MID{uuid.uuid4().hex}"
    await _register(stack, media_id, token, VOICE, "audio/ogg")
    message = _voice(media_id)
    await _webhook(stack, number, number_id, secret, message)
    digest = hashlib.sha256(VOICE).hexdigest()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sends = [
            r
            for r in await stack.fake_requests(stack.fake_graph)
            if r["body"].get("to") == message["from"]
        ]
        if sends:
            break
        await asyncio.sleep(0.3)
    assert len(sends) == 1
    assert f"transcript of {digest[:8]}" in json.dumps(sends[0]["body"])
