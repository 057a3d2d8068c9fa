"""The media handler with in-memory downloads and transcription: outcomes per kind."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from cryptography.fernet import Fernet
from PIL import Image
from pypdf import PdfWriter

from services.media.adapters.download import Downloaded
from services.media.adapters.transcribe import Transcript
from services.media.domain.credentials import GroqKeys
from services.media.domain.documents import document_text
from services.media.domain.images import to_data_url
from services.media.domain.policy import MediaPolicies, MediaPolicy
from services.media.domain.resolve import MediaFailure, TransientFailure
from services.media.entrypoints.consumers import ResolveMedia, parse_identified, without_media
from shared.consumer import RetryLater
from shared.contracts.config_events import GroqConfigChanged, WhatsAppConfigChanged
from shared.contracts.media import MediaKind, MediaOutcome, MediaRef, MediaResolved
from shared.contracts.messages import HAS_MEDIA, Channel, IdentifiedBy, UserIdentified
from shared.crypto import SecretBox
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory
from tests.support.seams import Published, received

USER = uuid.uuid4()
BOX = SecretBox(Fernet.generate_key().decode())


def _picture(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 80).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class Downloads:
    def __init__(self, content: bytes, mime: str, fail: Exception | None = None) -> None:
        self.content, self.mime, self.fail, self.tokens = content, mime, fail, list[str]()

    async def whatsapp(self, media_id: str, token: str, cap: int) -> Downloaded:
        self.tokens.append(token)
        if self.fail is not None:
            raise self.fail
        return Downloaded(self.content, self.mime, None)

    async def twilio(self, path: str, account_sid: str, auth_token: str, cap: int) -> Downloaded:
        raise AssertionError("not a twilio message")


class Speech:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    async def transcribe(
        self, *, api_key: str, content: bytes, filename: str, model: str, language: str | None
    ) -> Transcript:
        self.calls.append({"key": api_key, "filename": filename, "model": model, "lang": language})
        return Transcript("bonjour", "fr", 2.0)


class Eyes:
    """The vision seam: records what it was shown, answers from the image it decoded."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[dict[str, object]] = []
        self.fail = fail

    async def describe(
        self, *, api_key: str, model: str, data_url: str, caption: str | None, language: str
    ) -> str:
        image = base64.b64decode(data_url.removeprefix("data:image/jpeg;base64,"))
        with Image.open(io.BytesIO(image)) as opened:
            size = opened.size
        self.calls.append(
            {"key": api_key, "model": model, "caption": caption, "lang": language, "size": size}
        )
        if self.fail is not None:
            raise self.fail
        return f"une photo {size[0]}x{size[1]}"


def _handler(
    downloads: Downloads, policy: MediaPolicy | None = None, eyes: Eyes | None = None
) -> tuple[ResolveMedia, Published, Speech]:
    whatsapp, keys = WhatsAppDirectory(), GroqKeys()
    whatsapp.apply(
        WhatsAppConfigChanged(
            user_id=USER,
            phone_number_id="PN1",
            display_phone_number="+33612345678",
            is_active=True,
            access_token_encrypted=BOX.encrypt("EAAtoken"),
        )
    )
    keys.apply(
        GroqConfigChanged(
            user_id=USER, api_key_encrypted=BOX.encrypt("gsk_t"), model="m", temperature=0.1
        )
    )
    published, speech = Published(), Speech()
    policies = MediaPolicies()
    if policy is not None:
        policies.set(USER, policy)
    handler = ResolveMedia(
        whatsapp=whatsapp,
        twilio=TwilioDirectory(),
        groq_keys=keys,
        box=BOX,
        downloader=downloads,
        speech=speech,
        vision=eyes or Eyes(),
        publish=published,
        retry_budget_s=60,
        policies=policies,
    )
    return handler, published, speech


def _message(media: MediaRef) -> UserIdentified:
    return UserIdentified(
        message_id="wamid.1",
        conversation_key="whatsapp:PN1:+33600000000",
        channel=Channel.WHATSAPP,
        source="whatsapp",
        customer_phone="+33600000000",
        phone_number_id="PN1",
        text="",
        received_at=datetime.now(UTC).isoformat(),
        message_type=media.kind.value,
        media=media,
        user_id=USER,
        identified_by=IdentifiedBy.WHATSAPP_CONFIG,
    )


async def test_voice_note_uses_the_tenants_token_key_and_policy() -> None:
    downloads = Downloads(b"OggS", "audio/ogg")
    policy = MediaPolicy(transcription_model="whisper-large-v3", language_hint="fr")
    handler, published, speech = _handler(downloads, policy)
    await handler(received(_message(MediaRef(kind=MediaKind.AUDIO, media_id="M", voice=True))))
    [event] = published.of_type(MediaResolved)
    assert (event.outcome, event.text, event.audio_seconds) == (
        MediaOutcome.TRANSCRIBED,
        "bonjour",
        10.0,
    )
    assert downloads.tokens == ["EAAtoken"]
    assert speech.calls == [
        {"key": "gsk_t", "filename": "audio.ogg", "model": "whisper-large-v3", "lang": "fr"}
    ]


async def test_image_goes_to_the_vision_model_only_when_enabled() -> None:
    image = MediaRef(kind=MediaKind.IMAGE, media_id="I", mime_type="image/png", caption="prix ?")
    eyes = Eyes()
    with_vision, published, _ = _handler(
        Downloads(_picture((3000, 2000)), "image/png"), MediaPolicy(vision_model="llava"), eyes
    )
    await with_vision(received(_message(image)))
    [event] = published.of_type(MediaResolved)
    assert event.outcome is MediaOutcome.IMAGE and event.vision_model == "llava"
    assert event.text == "une photo 1568x1045" and event.image_data_url is None
    assert eyes.calls == [
        {"key": "gsk_t", "model": "llava", "caption": "prix ?", "lang": "fr", "size": (1568, 1045)}
    ]
    assert "base64" not in event.model_dump_json()
    without, published, _ = _handler(Downloads(b"", "image/png"))
    await without(received(_message(image)))
    [event] = published.of_type(MediaResolved)
    assert (
        event.outcome is MediaOutcome.UNSUPPORTED
        and event.fallback_text
        and not event.image_data_url
    )


async def test_failures_are_final_and_transient_ones_retried() -> None:
    audio = MediaRef(kind=MediaKind.AUDIO, media_id="M")
    handler, published, _ = _handler(Downloads(b"", "audio/ogg", MediaFailure("too_large")))
    await handler(received(_message(audio)))
    [event] = published.of_type(MediaResolved)
    assert (event.outcome, event.reason) == (MediaOutcome.FAILED, "too_large")
    handler, published, _ = _handler(
        Downloads(b"", "audio/ogg", TransientFailure("download_unavailable"))
    )
    with pytest.raises(RetryLater):
        await handler(received(_message(audio)))
    handler.retry_budget_s = 0
    await handler(received(_message(audio)))
    [event] = published.of_type(MediaResolved)
    assert (event.outcome, event.reason) == (MediaOutcome.FAILED, "download_unavailable")


async def test_vision_429_is_retried_and_a_rejection_is_final() -> None:
    image = MediaRef(kind=MediaKind.IMAGE, media_id="I", mime_type="image/png")
    picture = Downloads(_picture((32, 32)), "image/png")
    policy = MediaPolicy(vision_model="llava")
    limited = Eyes(TransientFailure("vision_rate_limited", 2.0))
    handler, published, _ = _handler(picture, policy, limited)
    with pytest.raises(RetryLater):
        await handler(received(_message(image)))
    assert published.events == []
    handler, published, _ = _handler(picture, policy, Eyes(MediaFailure("vision_rejected_400")))
    await handler(received(_message(image)))
    [event] = published.of_type(MediaResolved)
    assert (event.outcome, event.reason) == (MediaOutcome.FAILED, "vision_rejected_400")
    assert event.fallback_text and "image" in event.fallback_text


async def test_polite_text_follows_the_language_whisper_heard() -> None:
    class Silent(Speech):
        async def transcribe(self, **_: object) -> Transcript:
            return Transcript("", "es", 1.0)

    audio = MediaRef(kind=MediaKind.AUDIO, media_id="M")
    handler, published, _ = _handler(Downloads(b"OggS", "audio/ogg"))
    handler.speech = Silent()
    await handler(received(_message(audio)))
    [event] = published.of_type(MediaResolved)
    assert (event.outcome, event.reason, event.language) == (
        MediaOutcome.FAILED,
        "empty_transcript",
        "es",
    )
    assert event.fallback_text and "mensaje de voz" in event.fallback_text


async def test_unsupported_mime_gets_the_tenants_language() -> None:
    document = MediaRef(kind=MediaKind.DOCUMENT, media_id="D", mime_type="application/zip")
    handler, published, _ = _handler(
        Downloads(b"PK", "application/zip"), MediaPolicy(language="en")
    )
    await handler(received(_message(document)))
    [event] = published.of_type(MediaResolved)
    assert event.outcome is MediaOutcome.UNSUPPORTED
    assert event.fallback_text and "document" in event.fallback_text.lower()
    assert "Merci" not in event.fallback_text


async def test_messages_without_media_are_ignored() -> None:
    handler, published, _ = _handler(Downloads(b"", "x"))
    message = _message(MediaRef(kind=MediaKind.AUDIO, media_id="M")).model_copy(
        update={"media": None}
    )
    await handler(received(message))
    assert published.events == []


def test_large_images_are_downscaled_to_fit_a_record() -> None:
    url = to_data_url(_picture((3000, 3000)), max_base64=200_000)
    assert len(url) - len("data:image/jpeg;base64,") <= 200_000
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as out:
        assert out.format == "JPEG" and max(out.size) <= 1568
    with pytest.raises(MediaFailure, match="unreadable_image"):
        to_data_url(b"not an image")


def test_documents_are_read_up_to_the_limit() -> None:
    assert document_text(b"hello world", "text/plain; charset=utf-8", 5) == "hello"
    writer = PdfWriter()
    writer.add_blank_page(72, 72)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(MediaFailure, match="empty_document"):
        document_text(buffer.getvalue(), "application/pdf", 100)
    with pytest.raises(MediaFailure, match="unreadable_document"):
        document_text(b"%PDF-broken", "application/pdf", 100)


def _record(
    event: UserIdentified, headers: list[tuple[str, bytes]]
) -> ConsumerRecord[bytes, bytes]:
    value = event.model_dump_json().encode()
    return ConsumerRecord(
        "messages.identified.v1", 0, 0, 0, 0, b"k", value, None, 1, len(value), headers
    )


def test_text_records_are_skipped_on_identitys_header_without_parsing() -> None:
    voice = _message(MediaRef(kind=MediaKind.AUDIO, media_id="M"))
    text = voice.model_copy(update={"media": None, "text": "bonjour"})
    typed = [("event-type", b"UserIdentified")]
    # The header is trusted: a value that would not even parse is never read.
    broken = ConsumerRecord(
        "messages.identified.v1", 0, 0, 0, 0, b"k", b"{", None, 1, 1, [*typed, (HAS_MEDIA, b"0")]
    )
    assert parse_identified(broken) is None
    assert parse_identified(_record(text, [*typed, (HAS_MEDIA, b"0")])) is None
    parsed = parse_identified(_record(voice, [*typed, (HAS_MEDIA, b"1")]))
    assert parsed is not None and parsed.media is not None
    # Older records without the headers are parsed to know.
    assert parse_identified(_record(text, [])) is not None
    assert parse_identified(_record(voice, [])) == voice
    assert parse_identified(_record(voice, [("event-type", b"SomethingNewer")])) is None


def test_the_consumer_skips_text_records_on_the_headers_alone() -> None:
    def record(headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("t", 0, 0, 0, 0, b"k", b"{", None, 1, 1, headers)

    assert without_media(record([("event-type", b"UserIdentified"), (HAS_MEDIA, b"0")]))
    assert without_media(record([("event-type", b"SomethingNewer")]))
    assert not without_media(record([("event-type", b"UserIdentified"), (HAS_MEDIA, b"1")]))
    assert not without_media(record([]))  # an older record: parsed to know
