"""Events of a reply's way out to the provider, and the provider's delivery receipts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field

from shared.contracts.envelope import Envelope
from shared.contracts.messages import Channel, MessageEvent


class ReplyDelivered(MessageEvent):
    event_type: Literal["ReplyDelivered"] = "ReplyDelivered"
    user_id: uuid.UUID | None
    channel: Channel
    provider_message_ids: list[str]
    parts: int = Field(ge=1, description="Replies over the provider's size limit are split")


class ReplyFailed(MessageEvent):
    event_type: Literal["ReplyFailed"] = "ReplyFailed"
    user_id: uuid.UUID | None
    channel: Channel
    reason: str = Field(
        description="e.g. 'provider_rejected', 'provider_unavailable', 'no_account'; "
        "'owner_human' / 'owner_paused' (not sent: a human or a pause owns the "
        "conversation), 'window_closed' (past the 24-hour window), or a provider error "
        "code's class: 'undeliverable', 'throughput_exceeded', 'pair_rate_limited', "
        "'token_expired'…"
    )
    status_code: int | None = None
    attempts: int
    detail: str = Field(default="", description="Operator-facing; never a secret")
    error_code: int | None = Field(
        default=None, description="The provider's error code (Meta's error.code), if any"
    )
    provider_message_ids: list[str] = Field(
        default_factory=list,
        description="What did leave: parts sent before the failure, or the re-engagement "
        "template sent instead of a reply past the 24-hour window",
    )


class DeliveryStatusReported(Envelope):
    """A provider receipt (sent, delivered, read, failed) for one of our outbound messages."""

    event_type: Literal["DeliveryStatusReported"] = "DeliveryStatusReported"
    channel: Channel
    provider_message_id: str
    status: str
    recipient: str | None = None
    phone_number_id: str | None = None
    timestamp: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    reason: str | None = Field(
        default=None,
        description="On 'failed': the class of the provider's error code ('undeliverable', "
        "'window_closed', 'token_expired', 'throughput_exceeded', 'pair_rate_limited'…)",
    )


DeliveryEvent = Annotated[
    ReplyDelivered | ReplyFailed | DeliveryStatusReported, Field(discriminator="event_type")
]
