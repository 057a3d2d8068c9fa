"""Media end to end beyond the voice note: vision, documents, the Twilio download, the
retry policy and unsupported types, each through the running services and the fakes.

The fakes derive their answers from what they were sent (the transcript from the audio's
sha256, the vision answer from the decoded image), so an assertion on the event or the
reply proves which bytes went where; their request logs prove which credentials.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from typing import Any

import pytest
from PIL import Image

from fakes.groq_audio import transcript_of
from shared.contracts.config_events import MediaSettingsChanged
from shared.contracts.media import MediaOutcome, MediaResolved
from tests.support.media import (
    fake_get,
    fake_post,
    graph_sends_to,
    media_records,
    put_media_settings,
    register_graph_media,
    resolved,
    tiny_pdf,
    twilio_tenant,
    twilio_webhook,
    whatsapp_tenant,
    whatsapp_webhook,
)
from tests.support.providers import wamid
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e
VISION_MODEL = "meta-llama/llama-4-scout-17b-16e-instruct"


def _voice_bytes() -> bytes:
    return b"OggS\x00\x02voice-" + uuid.uuid4().bytes + bytes(range(200))


def _message(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"from": random_number().removeprefix("+"), "id": wamid(), "type": kind, kind: body}


def _red_png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (220, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _no_secrets(stack: Stack, texts: list[str], *secrets: str) -> None:
    assert stack.media is not None
    logs = stack.media.log_text() + stack.gateway.log_text() + stack.responder.log_text()
    for secret in secrets:
        assert all(secret not in text for text in texts), secret[:12]
        assert secret not in logs, secret[:12]


async def test_image_goes_to_the_vision_model_and_the_reply_answers_what_it_saw(
    stack: Stack,
) -> None:
    tenant = await whatsapp_tenant(stack)
    await put_media_settings(
        stack, MediaSettingsChanged(user_id=tenant.user_id, version=1, vision_model=VISION_MODEL)
    )
    picture = _red_png((3000, 2000))
    media_id = f"IMG{uuid.uuid4().hex}"
    await register_graph_media(stack, media_id, tenant.token, picture, "image/png")
    message = _message(
        "image",
        {"id": media_id, "mime_type": "image/png", "sha256": hashlib.sha256(picture).hexdigest()},
    )
    await whatsapp_webhook(stack, tenant, message)

    [event] = await resolved(stack, message["id"])
    assert event.outcome is MediaOutcome.IMAGE and event.vision_model == VISION_MODEL
    assert event.image_data_url is None and event.text
    seen = [
        r
        for r in await fake_get(stack.fake_groq.url, "/_fake/vision/requests")
        if r["images"] and r["images"][0] and r["images"][0]["sha256"][:8] in event.text
    ]
    [request] = seen  # the request held the image the event describes, downscaled
    image = request["images"][0]
    assert (image["format"], image["width"], image["height"]) == ("JPEG", 1568, 1045)
    assert image["mime_type"] == "image/jpeg" and image["base64_chars"] <= 4_000_000
    red, green, blue = image["centre_rgb"]
    assert red > 180 and green < 70 and blue < 70
    assert request["authorization"] == f"Bearer {tenant.key}"
    assert request["model"] == VISION_MODEL and "French" in request["texts"][0]
    [send] = await graph_sends_to(stack, message["from"])
    assert event.text in send["body"]["text"]["body"]  # answered like a transcript
    raw = [value.decode() for value in await media_records(stack, message["id"])]
    assert all("base64" not in value for value in raw)
    _no_secrets(stack, raw, tenant.token, tenant.key, "/_media/dl/")


async def test_whatsapp_pdf_and_text_documents_are_read(stack: Stack) -> None:
    tenant = await whatsapp_tenant(stack)
    pdf, plain = tiny_pdf("Facture 2026-117 total 42 EUR"), b"Commande 88: 3 cartons"
    pdf_id, txt_id = f"DOC{uuid.uuid4().hex}", f"DOC{uuid.uuid4().hex}"
    await register_graph_media(stack, pdf_id, tenant.token, pdf, "application/pdf")
    await register_graph_media(stack, txt_id, tenant.token, plain, "text/plain")
    pdf_message = _message(
        "document", {"id": pdf_id, "mime_type": "application/pdf", "filename": "f.pdf"}
    )
    txt_message = _message("document", {"id": txt_id, "mime_type": "text/plain"})
    await whatsapp_webhook(stack, tenant, pdf_message)
    await whatsapp_webhook(stack, tenant, txt_message)

    [from_pdf] = await resolved(stack, pdf_message["id"])
    [from_txt] = await resolved(stack, txt_message["id"])
    assert (from_pdf.outcome, from_pdf.text) == (
        MediaOutcome.DOCUMENT_TEXT,
        "Facture 2026-117 total 42 EUR",
    )
    assert (from_txt.outcome, from_txt.text) == (MediaOutcome.DOCUMENT_TEXT, plain.decode())
    [send] = await graph_sends_to(stack, pdf_message["from"])
    assert "Facture 2026-117" in send["body"]["text"]["body"]


async def test_twilio_voice_note_is_downloaded_with_the_account_credentials(
    stack: Stack,
) -> None:
    tenant = await twilio_tenant(stack)
    voice = _voice_bytes()
    path = (
        f"/2010-04-01/Accounts/{tenant.account_sid}/Messages/MM{uuid.uuid4().hex}"
        f"/Media/ME{uuid.uuid4().hex}"
    )
    await fake_post(
        stack.fake_twilio.url,
        "/_fake/twilio-media",
        {
            "path": path,
            "account_sid": tenant.account_sid,
            "auth_token": tenant.auth_token,
            "content_type": "audio/ogg",
            "content_b64": base64.b64encode(voice).decode(),
        },
    )
    sid, customer = "SM" + uuid.uuid4().hex, random_number()
    params = {
        "MessageSid": sid,
        "AccountSid": tenant.account_sid,
        "From": f"whatsapp:{customer}",
        "To": f"whatsapp:{tenant.number}",
        "Body": "",
        "NumMedia": "1",
        "MediaUrl0": f"https://api.twilio.com{path}",
        "MediaContentType0": "audio/ogg",
    }
    await twilio_webhook(stack, tenant, params)

    [event] = await resolved(stack, sid)
    assert event.outcome is MediaOutcome.TRANSCRIBED
    assert event.text == transcript_of(voice, "audio.ogg")
    fetched = [
        r
        for r in await fake_get(stack.fake_twilio.url, "/_fake/twilio-media/requests")
        if r["path"] == path
    ]
    assert [(r["kind"], r["auth_ok"]) for r in fetched] == [("media", True), ("cdn", None)]
    sent = [
        r
        for r in await fake_get(stack.fake_groq.url, "/_fake/audio/requests")
        if r["sha256"] == hashlib.sha256(voice).hexdigest()
    ]
    assert [r["authorization"] for r in sent] == [f"Bearer {tenant.key}"]
    raw = [value.decode() for value in await media_records(stack, sid)]
    # Neither the credentials, a media URL nor the audio's bytes (its OggS magic). The
    # resource path itself is the item's media_id (fetching it takes the credentials).
    urls = (f"{stack.fake_twilio.url}{path}", f"api.twilio.com{path}", "_twilio_cdn")
    _no_secrets(stack, raw, tenant.auth_token, tenant.key, "OggS", *urls)


async def test_transcription_429_is_retried_and_5xx_past_the_budget_fails_politely(
    stack: Stack,
) -> None:
    """MEDIA_RETRY_BUDGET_S is 4 s in the test stack (tests/support/running.py)."""
    tenant = await whatsapp_tenant(stack)
    limited, down = _voice_bytes(), _voice_bytes()
    limited_id, down_id = f"MID{uuid.uuid4().hex}", f"MID{uuid.uuid4().hex}"
    await register_graph_media(stack, limited_id, tenant.token, limited, "audio/ogg")
    await register_graph_media(stack, down_id, tenant.token, down, "audio/ogg")

    await fake_post(stack.fake_groq.url, "/_fake/audio/fail", {"status": 429, "times": 1})
    first = _message("audio", {"id": limited_id, "mime_type": "audio/ogg", "voice": True})
    await whatsapp_webhook(stack, tenant, first)
    [ok] = await resolved(stack, first["id"])
    assert ok.outcome is MediaOutcome.TRANSCRIBED
    assert ok.text == transcript_of(limited, "audio.ogg")
    digest = hashlib.sha256(limited).hexdigest()
    tries = [r for r in await fake_get(stack.fake_groq.url, "/_fake/audio/requests")]
    assert len([r for r in tries if r["sha256"] == digest]) == 2  # 429, then the answer

    await fake_post(stack.fake_groq.url, "/_fake/audio/fail", {"status": 503, "times": 1000})
    try:
        second = _message("audio", {"id": down_id, "mime_type": "audio/ogg", "voice": True})
        await whatsapp_webhook(stack, tenant, second)
        [failed] = await resolved(stack, second["id"])
    finally:
        await fake_post(stack.fake_groq.url, "/_fake/audio/fail", {"status": 503, "times": 0})
    assert (failed.outcome, failed.reason) == (MediaOutcome.FAILED, "transcription_unavailable")
    assert failed.fallback_text and "vocal" in failed.fallback_text  # French by default
    [send] = await graph_sends_to(stack, second["from"])
    assert send["body"]["text"]["body"] == failed.fallback_text
    down_tries = [
        r
        for r in await fake_get(stack.fake_groq.url, "/_fake/audio/requests")
        if r["sha256"] == hashlib.sha256(down).hexdigest()
    ]
    assert 2 <= len(down_tries) < 30  # retried, bounded
    raw = [value.decode() for value in await media_records(stack, second["id"])]
    _no_secrets(stack, raw, tenant.token, tenant.key, "/_media/dl/", "OggS")


async def test_unsupported_mime_gets_the_polite_text_in_the_tenants_language(
    stack: Stack,
) -> None:
    french, english = await whatsapp_tenant(stack), await whatsapp_tenant(stack)
    await put_media_settings(
        stack, MediaSettingsChanged(user_id=english.user_id, version=1, text_language="en")
    )
    results: dict[str, MediaResolved] = {}
    for tenant in (french, english):
        message = _message(
            "document", {"id": f"DOC{uuid.uuid4().hex}", "mime_type": "application/zip"}
        )
        await whatsapp_webhook(stack, tenant, message)
        [results[tenant.number]] = await resolved(stack, message["id"])
    for event in results.values():
        assert event.outcome is MediaOutcome.UNSUPPORTED and event.reason is None
    assert "Merci pour le document" in (results[french.number].fallback_text or "")
    assert "Thanks for the document" in (results[english.number].fallback_text or "")
