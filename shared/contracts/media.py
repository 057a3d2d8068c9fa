"""Media a customer sent (voice notes, images, documents) and what the pipeline made of it.

The gateway puts a `MediaRef` on the inbound message (never a download URL or a token);
the media service downloads the item with the tenant's credentials, transcribes or reads
it, and publishes one `MediaResolved` per item on `messages.media.v1`, keyed by the
conversation like every message event. The responder treats a message with media as
pending until its `MediaResolved` arrives, so a turn waits for its voice note's transcript.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal

from pydantic import Field

from shared.contracts.messages import Channel, MediaKind, MediaRef, MessageEvent, UserIdentified

__all__ = ["MediaKind", "MediaOutcome", "MediaRef", "MediaResolved"]


class MediaOutcome(StrEnum):
    TRANSCRIBED = "transcribed"  # text = the transcript
    IMAGE = "image"  # text = what the tenant's vision model saw (description + its text)
    DOCUMENT_TEXT = "document_text"  # text = the document's text (PDF / plain text)
    UNSUPPORTED = "unsupported"  # fallback_text = what to tell the customer
    FAILED = "failed"  # fallback_text = what to tell the customer; reason says why


class MediaResolved(MessageEvent):
    """One media item of one inbound message, downloaded and understood (or not)."""

    event_type: Literal["MediaResolved"] = "MediaResolved"
    user_id: uuid.UUID | None
    channel: Channel
    kind: MediaKind
    outcome: MediaOutcome
    text: str | None = Field(
        default=None,
        description="Transcript, document text, or (IMAGE) what the tenant's vision model "
        "saw: a description and any text in the image",
    )
    language: str | None = Field(default=None, description="Detected language (ISO 639-1)")
    image_data_url: str | None = Field(
        default=None,
        description="Deprecated, always None: the media service sends the image to the "
        "vision model itself and publishes what it saw in `text` (images stay off Kafka)",
        json_schema_extra={"deprecated": True},
    )
    vision_model: str | None = Field(default=None, description="The tenant's vision model")
    caption: str | None = None
    fallback_text: str | None = Field(
        default=None,
        description="The polite text for the customer, in the tenant's language, when the "
        "item cannot be answered (unsupported, failed, no vision model)",
    )
    reason: str | None = Field(
        default=None, description="Why it failed: too_large, sha256_mismatch, expired, …"
    )
    audio_seconds: float | None = Field(default=None, ge=0, description="For usage")
    size_bytes: int | None = Field(default=None, ge=0)
    message: UserIdentified | None = Field(
        default=None,
        description="The inbound message the item came with, so the responder can answer "
        "its transcript (or its polite text) without a read",
    )
