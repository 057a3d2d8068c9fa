"""The media service's groq SDK adapters against the fake Groq app in process: what is
sent (the tenant's key, the file, the image part) and what each failure means."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from fakes import groq
from fakes.groq_audio import transcript_of
from services.media.adapters.groq_client import GroqClients
from services.media.adapters.transcribe import Transcriber
from services.media.adapters.vision import Vision
from services.media.domain.images import to_data_url
from services.media.domain.resolve import MediaFailure, TransientFailure


@pytest.fixture
async def fake() -> AsyncIterator[tuple[httpx.AsyncClient, GroqClients]]:
    transport = httpx.ASGITransport(app=groq.build_app())
    control = httpx.AsyncClient(transport=transport, base_url="http://fake")
    clients = GroqClients("http://fake", 5, httpx.AsyncClient(transport=transport))
    yield control, clients
    await clients.aclose()
    await control.aclose()


async def test_transcription_sends_the_file_with_the_tenants_key_and_maps_failures(
    fake: tuple[httpx.AsyncClient, GroqClients],
) -> None:
    control, clients = fake
    speech = Transcriber(clients)
    result = await speech.transcribe(
        api_key="gsk_a", content=b"OggS1", filename="audio.ogg", model="w", language=None
    )
    assert result.text == transcript_of(b"OggS1", "audio.ogg") and result.language == "fr"
    await speech.transcribe(
        api_key="gsk_b", content=b"OggS2", filename="audio.ogg", model="w", language="es"
    )
    seen = (await control.get("/_fake/audio/requests")).json()
    assert [(r["authorization"], r["language"]) for r in seen] == [
        ("Bearer gsk_a", None),
        ("Bearer gsk_b", "es"),
    ]  # one shared client, each call with its own tenant's key
    await control.post("/_fake/audio/fail", json={"status": 429, "retry_after": "3"})
    with pytest.raises(TransientFailure) as limited:
        await speech.transcribe(
            api_key="k", content=b"x", filename="audio.ogg", model="w", language=None
        )
    assert (limited.value.reason, limited.value.after_s) == ("transcription_rate_limited", 3.0)
    await control.post("/_fake/audio/fail", json={"status": 413})
    with pytest.raises(MediaFailure, match="transcription_rejected_413"):
        await speech.transcribe(
            api_key="k", content=b"x", filename="audio.ogg", model="w", language=None
        )


async def test_vision_sends_the_image_part_and_returns_what_the_model_saw(
    fake: tuple[httpx.AsyncClient, GroqClients],
) -> None:
    control, clients = fake
    buffer = io.BytesIO()
    Image.new("RGB", (2000, 1000), (0, 0, 200)).save(buffer, format="PNG")
    data_url = to_data_url(buffer.getvalue())
    jpeg = base64.b64decode(data_url.split(",", 1)[1])
    vision = Vision(clients)
    text = await vision.describe(
        api_key="gsk_v", model="llama-4-scout", data_url=data_url, caption="prix ?", language="fr"
    )
    assert f"sha256 {hashlib.sha256(jpeg).hexdigest()[:8]}" in text and "1568x784" in text
    [seen] = (await control.get("/_fake/vision/requests")).json()
    assert seen["authorization"] == "Bearer gsk_v" and '"prix ?"' in seen["texts"][0]
    await control.post("/_fake/vision/fail", json={"status": 503})
    with pytest.raises(TransientFailure, match="vision_unavailable"):
        await vision.describe(
            api_key="k", model="m", data_url=data_url, caption=None, language="en"
        )
    with pytest.raises(MediaFailure, match="vision_rejected_400"):
        await vision.describe(
            api_key="k",
            model="m",
            data_url="data:image/jpeg;base64,AAAA",
            caption=None,
            language="en",
        )
