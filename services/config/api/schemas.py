"""What the HTTP API accepts and returns: settings (secrets are write-only, only hints come
back), then monitoring, timelines and the audit log."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    UrlConstraints,
    field_validator,
    model_validator,
)

from shared.groq_models import DEFAULT_CHAT_MODEL
from shared.phones import to_e164

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        """Keys, ids and names never hold control characters (PostgreSQL text cannot even
        store NUL): refuse them with 422 instead of failing later."""
        if isinstance(value, str):
            if _CONTROL.search(value):
                raise ValueError("must not contain control characters")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("must be valid Unicode text") from exc
        return value


def _e164(value: str) -> str:
    e164 = to_e164(value)
    if e164 is None:
        raise ValueError("must be a phone number in E.164 form, e.g. +14155550123")
    return e164


def _groq_base(value: HttpUrl) -> str:
    """The groq SDK wants the host root; a URL ending in /openai/v1 is trimmed to it."""
    text = str(value).rstrip("/")
    return text.removesuffix("/openai/v1")


E164 = Annotated[str, Field(max_length=64), AfterValidator(_e164)]
# http(s) only (HttpUrl refuses other schemes), of a sane length.
WebUrl = Annotated[HttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])]
Model = Annotated[str, Field(min_length=1, max_length=200)]
Temperature = Annotated[float, Field(ge=0, le=2)]
Secret = Annotated[str, Field(min_length=1, max_length=4096)]


class GroqConfigIn(_In):
    api_key: Secret
    model: Model = DEFAULT_CHAT_MODEL
    temperature: Temperature = 0.7


class GroqConfigPatch(_In):
    """Any subset of the Groq settings; a field left out keeps its value."""

    api_key: Secret | None = Field(default=None, description="Leave out to keep the stored key")
    model: Model | None = None
    temperature: Temperature | None = None
    fallback_model: Model | None = Field(
        default=None, description="null: the system default model answers when yours cannot"
    )
    cheaper_model: Model | None = Field(
        default=None, description="null: no cheaper model when a limit is reached"
    )

    @model_validator(mode="after")
    def _names_something(self) -> Self:
        given = self.model_fields_set
        if not given:
            raise ValueError("name at least one setting to change")
        nulls = [
            n
            for n in ("api_key", "model", "temperature")
            if n in given and getattr(self, n) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null: leave it out to keep it")
        return self


class GroqConfigOut(BaseModel):
    model: str
    temperature: float
    api_key_hint: str
    updated_at: datetime


class WhatsAppConfigIn(_In):
    phone_number_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
    display_phone_number: E164
    access_token: Secret
    app_secret: Secret | None = None
    verify_token: Secret | None = None
    is_active: bool = True


class WhatsAppConfigOut(BaseModel):
    phone_number_id: str
    display_phone_number: str
    is_active: bool
    access_token_hint: str
    app_secret_set: bool
    verify_token_set: bool
    updated_at: datetime


class TwilioConfigIn(_In):
    account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$")]
    auth_token: Secret
    phone_number: E164
    is_active: bool = True


class TwilioConfigOut(BaseModel):
    account_sid: str
    phone_number: str
    is_active: bool
    auth_token_hint: str
    updated_at: datetime


class WebhookLinksIn(_In):
    webhook_url: WebUrl | None = None
    groq_api_url: Annotated[WebUrl, AfterValidator(_groq_base)] | None = None
    webhook_enabled: bool = False
    groq_enabled: bool = False

    @model_validator(mode="after")
    def _enabled_needs_its_url(self) -> Self:
        if self.groq_enabled and not self.groq_api_url:
            raise ValueError("groq_enabled needs groq_api_url (the Groq API base URL)")
        if self.webhook_enabled and not self.webhook_url:
            raise ValueError("webhook_enabled needs webhook_url")
        return self


class WebhookLinksOut(BaseModel):
    webhook_url: str | None
    groq_api_url: str | None
    webhook_enabled: bool
    groq_enabled: bool
    updated_at: datetime | None


class SystemSettingsIn(_In):
    fallback_enabled: bool


class SystemSettingsOut(BaseModel):
    fallback_enabled: bool
    updated_at: datetime | None


# monitoring, timeline, audit ---------------------------------------------------------------


class IdentificationStats(BaseModel):
    hours: int
    total_messages: int = Field(description="Distinct inbound messages identified in the window")
    identified_messages: int = Field(description="Of those, matched to a tenant")
    success_rate: float | None = Field(
        description="identified / total in percent, 2 decimals; null when there were none"
    )


class UnassociatedMessage(BaseModel):
    message_id: str
    customer_phone: str | None
    text: str | None
    channel: str | None
    occurred_at: datetime
    trace_id: str | None


class UnassociatedPage(BaseModel):
    hours: int
    total: int
    limit: int
    offset: int
    items: list[UnassociatedMessage]


class GroqStatus(StrEnum):
    CONFIGURED = "Configured"
    MISSING = "Missing"


class UserCoverage(BaseModel):
    user_id: uuid.UUID
    groq_status: GroqStatus
    last_message_at: datetime | None = Field(description="Last message identified as theirs")


class CoveragePage(BaseModel):
    total: int
    configured: int
    missing: int
    limit: int
    offset: int
    users: list[UserCoverage]


class TimelineEvent(BaseModel):
    event_id: uuid.UUID
    event_type: str
    service: str
    occurred_at: datetime
    attempt: int | None
    user_id: uuid.UUID | None
    trace_id: str | None
    summary: dict[str, Any]


class ReplyDelivery(BaseModel):
    status: Literal["sent", "delivered", "read", "failed"] = Field(
        description="sent: the provider accepted every part; delivered / read: every part "
        "reported so; failed: not sent, or a part reported failed after the send"
    )
    reason: str | None = Field(
        default=None,
        description="On failed: ReplyFailed's reason, or the failed status's classified "
        "error ('window_closed', 'undeliverable', 'recipient_unsubscribed'…)",
    )
    error_code: int | None = Field(default=None, description="The provider's error code")
    settled_by: Literal["ReplyDelivered", "ReplyFailed", "DeliveryStatusReported"] = Field(
        description="The event this comes from: DeliveryStatusReported when a status "
        "callback reported it after the send"
    )


class MessageTimeline(BaseModel):
    message_id: str
    trace_id: str | None = Field(description="The trace of the message's first event")
    trace_ids: list[str] = Field(description="Every trace seen (a retried message has more)")
    trace_url: str | None = Field(
        default=None, description="`trace_id` in the trace viewer, when TRACE_UI_URL is set"
    )
    events: list[TimelineEvent]
    delivery: ReplyDelivery | None = Field(
        default=None, description="Where the message's reply stands; null before one"
    )


class AuditEntry(BaseModel):
    id: int
    occurred_at: datetime
    user_id: uuid.UUID | None = Field(description="The tenant concerned; null = system settings")
    actor_role: str
    actor_id: uuid.UUID | None
    entity: str
    action: str
    changed_fields: list[str] = Field(description="Names only; never a value")
    trace_id: str | None


class AuditPage(BaseModel):
    limit: int
    offset: int
    items: list[AuditEntry]
