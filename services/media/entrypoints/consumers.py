"""UserIdentified with media in, one MediaResolved per item out (per record: downloads
and transcriptions take very different times).

Idempotent by design, no table: a message's MediaResolved depends only on the message and
the tenant's settings, so a redelivery after a crash republishes the same outcome under the
same message_id and the responder keeps the first one it sees per message_id. A 429/5xx is
retried (RetryLater) within `retry_budget_s` of the first try, then FAILED: nothing waits
forever and a conversation's later messages are never blocked for good.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

import orjson
from aiokafka import ConsumerRecord
from prometheus_client import Counter

from services.media.adapters.download import Downloaded
from services.media.adapters.transcribe import Transcript
from services.media.domain.credentials import GroqKeys
from services.media.domain.documents import document_text, readable
from services.media.domain.images import to_data_url
from services.media.domain.policy import MediaPolicies, MediaPolicy
from services.media.domain.resolve import (
    CAPS,
    MediaFailure,
    Resolution,
    TransientFailure,
    audio_filename,
    billed_audio_seconds,
    check_sha256,
    polite_text,
)
from shared.consumer import Received, RetryLater
from shared.contracts.media import MediaKind, MediaOutcome, MediaRef, MediaResolved
from shared.contracts.messages import HAS_MEDIA, Channel, UserIdentified
from shared.contracts.topics import MESSAGES_MEDIA
from shared.crypto import SecretBox
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
RESOLVED = Counter(
    "media_resolved_total", "Media items resolved, by kind and outcome", ["kind", "outcome"]
)


class Downloader(Protocol):
    async def whatsapp(self, media_id: str, token: str, cap: int) -> Downloaded: ...

    async def twilio(
        self, path: str, account_sid: str, auth_token: str, cap: int
    ) -> Downloaded: ...


class ImageReader(Protocol):
    async def describe(
        self, *, api_key: str, model: str, data_url: str, caption: str | None, language: str
    ) -> str: ...


class SpeechToText(Protocol):
    async def transcribe(
        self, *, api_key: str, content: bytes, filename: str, model: str, language: str | None
    ) -> Transcript: ...


def without_media(record: ConsumerRecord[bytes, bytes]) -> bool:
    """Most records are text: identity's headers say so, and such a record is skipped
    before any parse, span or handler call. A record without them (older ones) is parsed."""
    headers = dict(record.headers or ())
    event_type = headers.get("event-type")
    return (event_type is not None and event_type != b"UserIdentified") or headers.get(
        HAS_MEDIA
    ) == b"0"


def parse_identified(record: ConsumerRecord[bytes, bytes]) -> UserIdentified | None:
    """None for a record without media, or of an event type this service does not handle."""
    if without_media(record):
        return None
    typed = any(name == "event-type" for name, _ in record.headers or ())
    if not typed and orjson.loads(record.value).get("event_type") != "UserIdentified":
        return None
    return UserIdentified.model_validate_json(record.value)


@dataclass
class ResolveMedia:
    whatsapp: WhatsAppDirectory
    twilio: TwilioDirectory
    groq_keys: GroqKeys
    box: SecretBox
    downloader: Downloader
    speech: SpeechToText
    vision: ImageReader
    publish: Publish
    retry_budget_s: float
    policies: MediaPolicies

    async def __call__(self, item: Received[UserIdentified | None]) -> None:
        message = item.event
        if message is None or message.media is None:
            return  # most messages: nothing to resolve
        media = message.media
        policy = self.policies.for_user(message.user_id)
        try:
            resolution = await self._resolve(message, media, policy)
        except TransientFailure as exc:
            if time.monotonic() - item.first_handled_at < self.retry_budget_s:
                raise RetryLater(exc.reason, exc.after_s) from None
            resolution = _failed(media, policy, exc.reason)
        except MediaFailure as exc:
            resolution = _failed(media, policy, exc.reason, exc.language)
        event = _event(message, media, resolution)
        await self.publish(
            [Outgoing(MESSAGES_MEDIA, event, message.conversation_key, item.context)]
        )
        RESOLVED.labels(media.kind.value, resolution.outcome.value).inc()
        log.info(
            "media resolved",
            message_id=message.message_id,
            kind=media.kind.value,
            outcome=resolution.outcome.value,
            reason=resolution.reason,
            tries=item.delivery,
        )

    async def _resolve(
        self, message: UserIdentified, media: MediaRef, policy: MediaPolicy
    ) -> Resolution:
        if media.kind is MediaKind.AUDIO:
            return await self._transcribe(message, media, policy)
        if media.kind is MediaKind.IMAGE and policy.vision_model:
            return await self._see(message, media, policy, policy.vision_model)
        if (
            media.kind is MediaKind.DOCUMENT
            and policy.document_text_limit > 0
            and readable(media.mime_type)
        ):
            downloaded = await self._download(message, media)
            if not readable(downloaded.mime_type or media.mime_type):
                raise MediaFailure("unsupported_mime")
            text = document_text(
                downloaded.content,
                downloaded.mime_type or media.mime_type,
                policy.document_text_limit,
            )
            return Resolution(
                MediaOutcome.DOCUMENT_TEXT, text=text, size_bytes=len(downloaded.content)
            )
        # Video, stickers, images without a vision model, other documents: nothing is
        # downloaded; the customer gets the polite text.
        return Resolution(MediaOutcome.UNSUPPORTED, fallback_text=_polite(media, policy))

    async def _see(
        self, message: UserIdentified, media: MediaRef, policy: MediaPolicy, model: str
    ) -> Resolution:
        downloaded = await self._download(message, media)
        key = self._groq_key(message)
        description = await self.vision.describe(
            api_key=key,
            model=model,
            data_url=to_data_url(downloaded.content),
            caption=media.caption or None,
            language=policy.language,
        )
        return Resolution(
            MediaOutcome.IMAGE,
            text=description,
            vision_model=model,
            size_bytes=len(downloaded.content),
        )

    def _groq_key(self, message: UserIdentified) -> str:
        key = self.box.try_decrypt(self.groq_keys.encrypted_key_for(message.user_id))
        if key is None:
            raise MediaFailure("no_groq_key")
        return key

    async def _transcribe(
        self, message: UserIdentified, media: MediaRef, policy: MediaPolicy
    ) -> Resolution:
        downloaded = await self._download(message, media)
        key = self._groq_key(message)
        transcript = await self.speech.transcribe(
            api_key=key,
            content=downloaded.content,
            filename=audio_filename(media.mime_type or downloaded.mime_type),
            model=policy.transcription_model,
            language=policy.language_hint,
        )
        if not transcript.text:
            raise MediaFailure("empty_transcript", transcript.language)
        return Resolution(
            MediaOutcome.TRANSCRIBED,
            text=transcript.text,
            language=transcript.language,
            audio_seconds=billed_audio_seconds(transcript.duration_s),
            size_bytes=len(downloaded.content),
        )

    async def _download(self, message: UserIdentified, media: MediaRef) -> Downloaded:
        cap = CAPS[media.kind]
        if message.channel is Channel.WHATSAPP:
            account = self.whatsapp.by_phone_number_id(message.phone_number_id or "")
            token = self.box.try_decrypt(account.access_token_encrypted if account else None)
            if account is None or account.user_id != message.user_id or token is None:
                raise MediaFailure("no_credentials")
            downloaded = await self.downloader.whatsapp(media.media_id, token, cap)
            check_sha256(downloaded.content, media.sha256 or downloaded.sha256)
            return downloaded
        if message.channel is Channel.TWILIO:
            twilio = self.twilio.by_number(message.business_phone or "")
            secret = self.box.try_decrypt(twilio.auth_token_encrypted if twilio else None)
            if twilio is None or twilio.user_id != message.user_id or secret is None:
                raise MediaFailure("no_credentials")
            return await self.downloader.twilio(media.media_id, twilio.account_sid, secret, cap)
        raise MediaFailure("unsupported_channel")


def _polite(media: MediaRef, policy: MediaPolicy, customer_language: str | None = None) -> str:
    return polite_text(media.kind, policy.language, policy.texts, customer_language)


def _failed(
    media: MediaRef, policy: MediaPolicy, reason: str, customer_language: str | None = None
) -> Resolution:
    return Resolution(
        MediaOutcome.FAILED,
        reason=reason,
        language=customer_language,
        fallback_text=_polite(media, policy, customer_language),
    )


# The fields that say which message (and which try of it) an event is about.
_SAME_MESSAGE = {"message_id", "attempt", "conversation_key", "user_id", "channel"}


def _event(message: UserIdentified, media: MediaRef, resolution: Resolution) -> MediaResolved:
    return MediaResolved(
        **message.model_dump(include=_SAME_MESSAGE),
        **asdict(resolution),  # its fields are named as the event's
        kind=media.kind,
        caption=media.caption,
        message=message,
        occurred_at=datetime.now(UTC),
    )
