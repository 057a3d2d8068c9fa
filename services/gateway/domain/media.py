"""Media in inbound webhooks, read into a `MediaRef`. Pure: no I/O.

WhatsApp: `audio|image|document|video|sticker.{id, mime_type, sha256, caption, filename}`
(voice notes carry `audio.voice: true`). Twilio: `NumMedia`, `MediaUrl0`,
`MediaContentType0`; only the media resource *path* is kept, never the URL's host or
query, so no token or signed link ever reaches an event. Downloads happen later, in the
media service, with the tenant's credentials.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from shared.contracts.messages import MediaKind, MediaRef

MEDIA_KINDS = {kind.value: kind for kind in MediaKind}
_ID_MAX, _MIME_MAX, _SHA_MAX, _CAPTION_MAX, _NAME_MAX = 512, 128, 128, 4096, 512


def _short(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        return None
    return value.strip()


def whatsapp_media(message: dict[str, Any]) -> MediaRef | None:
    """The media item of one WhatsApp message, or None for text and other types."""
    type_ = message.get("type")
    kind = MEDIA_KINDS.get(type_) if isinstance(type_, str) else None
    body = message.get(kind.value) if kind is not None else None
    if kind is None or not isinstance(body, dict):
        return None
    media_id = _short(body.get("id"), _ID_MAX)
    if media_id is None:
        return None
    return MediaRef(
        kind=kind,
        media_id=media_id,
        mime_type=_short(body.get("mime_type"), _MIME_MAX),
        sha256=_short(body.get("sha256"), _SHA_MAX),
        caption=_short(body.get("caption"), _CAPTION_MAX),
        filename=_short(body.get("filename"), _NAME_MAX),
        voice=body.get("voice") is True,
    )


def _kind_of_mime(mime: str | None) -> MediaKind:
    major = (mime or "").split("/", 1)[0].lower()
    if major == "audio":
        return MediaKind.AUDIO
    if major == "image":
        return MediaKind.IMAGE
    if major == "video":
        return MediaKind.VIDEO
    return MediaKind.DOCUMENT


def twilio_media(params: dict[str, str]) -> MediaRef | None:
    """The first media item of a Twilio webhook (its resource path), or None."""
    if params.get("NumMedia", "0").strip() in ("", "0"):
        return None
    path = urlsplit(params.get("MediaUrl0", "")).path
    if not path.startswith("/") or len(path) > _ID_MAX:
        return None
    mime = _short(params.get("MediaContentType0"), _MIME_MAX)
    kind = _kind_of_mime(mime)
    caption = _short(params.get("Body"), _CAPTION_MAX)
    # Twilio relays WhatsApp voice notes as audio/ogg (opus): treat them as voice.
    return MediaRef(
        kind=kind, media_id=path, mime_type=mime, caption=caption, voice=kind is MediaKind.AUDIO
    )
