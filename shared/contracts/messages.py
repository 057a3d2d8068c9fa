"""Events of one customer message's life: received, identified, answered or failed."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import Envelope
from shared.contracts.groq_health import RateLimits


class Channel(StrEnum):
    API = "api"  # the seed's generic api-chatbot endpoint; the caller waits for the answer
    WHATSAPP = "whatsapp"
    TWILIO = "twilio"


def conversation_key(channel: Channel, business: str | None, customer: str) -> str:
    """The Kafka key of one conversation, `channel:business:customer`: every event about it
    lands on one partition, in order (`shared.consumer.tenant_of` groups by the prefix)."""
    return f"{channel.value}:{business or '-'}:{customer}"


class MediaKind(StrEnum):
    AUDIO = "audio"
    IMAGE = "image"
    DOCUMENT = "document"
    VIDEO = "video"
    STICKER = "sticker"


class MediaRef(BaseModel):
    """What the provider told us about one media item; enough to fetch it later."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: MediaKind
    media_id: str = Field(
        min_length=1,
        max_length=512,
        description="WhatsApp: the Graph media id. Twilio: the media resource path "
        "(/2010-04-01/Accounts/…/Messages/…/Media/…), fetched with the account's credentials",
    )
    mime_type: str | None = Field(default=None, max_length=128)
    sha256: str | None = Field(default=None, max_length=128, description="As Meta sent it")
    caption: str | None = Field(default=None, max_length=4096)
    filename: str | None = Field(default=None, max_length=512)
    voice: bool = Field(default=False, description="A recorded voice note (not an audio file)")


class MessageEvent(Envelope):
    """Fields shared by every event about one inbound message (the correlation id)."""

    message_id: str = Field(min_length=1, max_length=256)
    attempt: int = Field(
        default=1, ge=1, description="Bumped when a caller retries a failed message"
    )
    conversation_key: str = Field(description="Kafka key: one conversation keeps its order")


class MessageReceived(MessageEvent):
    event_type: Literal["MessageReceived"] = "MessageReceived"
    channel: Channel
    source: str = Field(description="The seed's free-form source label, e.g. 'whatsapp'")
    customer_phone: str = Field(description="The seed's phoneNumber, E.164 when it parses")
    business_phone: str | None = Field(default=None, description="Tenant number, E.164")
    phone_number_id: str | None = Field(default=None, description="WhatsApp Cloud number id")
    text: str
    received_at: str = Field(description="ISO time the gateway accepted the message")
    message_type: str = Field(
        default="text", description="Provider message type the text came from (text, button, …)"
    )
    media: MediaRef | None = Field(
        default=None, description="A voice note, image, document…; text is its caption or ''"
    )


class IdentifiedBy(StrEnum):
    WHATSAPP_CONFIG = "whatsapp_config"
    TWILIO_CONFIG = "twilio_config"
    CONVERSATION_HISTORY = "conversation_history"
    NONE = "none"


# Record header identity sets on messages.identified.v1: "1" when the message carries
# media, "0" when not, so a reader that only wants media skips the rest unparsed.
# A record without it (older ones) must be parsed to know.
HAS_MEDIA = "has-media"


class UserIdentified(MessageReceived):
    """The inbound message again, now with its tenant: the responder needs nothing else."""

    event_type: Literal["UserIdentified"] = "UserIdentified"  # type: ignore[assignment]
    user_id: uuid.UUID | None
    identified_by: IdentifiedBy


class ConfigSource(StrEnum):
    USER = "user"
    FALLBACK = "fallback"
    NONE = "none"


class ResponseGenerated(MessageEvent):
    event_type: Literal["ResponseGenerated"] = "ResponseGenerated"
    user_id: uuid.UUID | None
    channel: Channel
    customer_phone: str
    phone_number_id: str | None = None
    business_phone: str | None = None
    source: str = ""
    response: str
    config_source: ConfigSource
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    turn_message_ids: list[str] = Field(
        default_factory=list,
        description="The customer messages this reply answers, in order (message_id is the "
        "last); empty = just message_id (window 0, the generic endpoint)",
    )
    customer_last_seen_at: str | None = Field(
        default=None,
        description="ISO time of the customer's last message: the 24-hour window closes "
        "24 h after it, and the gateway checks that before sending free text",
    )
    key_id: str | None = Field(
        default=None,
        max_length=64,
        description="The tenant's pool key that answered ('groq-config' = the single key); "
        "None for the system fallback or no model call",
    )
    rate_limits: RateLimits | None = Field(
        default=None, description="The x-ratelimit-* values of this answer (usage)"
    )
    model_fallback_reason: str | None = Field(
        default=None,
        max_length=300,
        description="Why another model than the tenant's answered (e.g. decommissioned)",
    )


class FailureReason(StrEnum):
    CONFIG_REQUIRED = "config_required"  # no user config and no enabled fallback
    PROVIDER_AUTH = "provider_auth"  # the tenant's Groq key was refused
    PROVIDER_REJECTED = "provider_rejected"  # Groq refused the request (e.g. unknown model)
    PROVIDER_UNAVAILABLE = "provider_unavailable"  # Groq 429/5xx/timeouts after retries
    INTERNAL = "internal"
    RATE_LIMITED = "rate_limited"  # over the tenant's or the customer's limit (issue 16)


class ResponseFailed(MessageEvent):
    event_type: Literal["ResponseFailed"] = "ResponseFailed"
    user_id: uuid.UUID | None
    channel: Channel
    reason: FailureReason
    retryable: bool
    detail: str = Field(default="", description="Operator-facing; never a secret")
    retry_after_s: int | None = Field(
        default=None, ge=0, description="rate_limited: when the limit frees up again"
    )
    customer_text: str | None = Field(
        default=None, description="rate_limited: the tenant's polite text for the customer"
    )


MessageOutcome = Annotated[ResponseGenerated | ResponseFailed, Field(discriminator="event_type")]
