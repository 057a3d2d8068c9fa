"""Configuration changes, published by the config service on a compacted topic.

Secrets travel only as Fernet ciphertext made with SECRETS_KEY (see shared.crypto);
a consumer without the key learns nothing from the topic.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import Envelope


class _ConfigChange(Envelope):
    version: int = Field(
        0,
        ge=0,
        description="The entity's change number, drawn in the writing transaction: it grows "
        "with each committed change of the entity (compaction key), in commit order. A view "
        "ignores a change not newer than the one it holds. 0: a record from before versions "
        "(schema_version 1 additive), applied in topic order.",
    )


class GroqConfigChanged(_ConfigChange):
    """A tenant's (user_id set) or the system's (user_id None) Groq settings; None = deleted."""

    event_type: Literal["GroqConfigChanged"] = "GroqConfigChanged"
    user_id: uuid.UUID | None
    api_key_encrypted: str | None
    model: str | None
    temperature: float | None

    @property
    def deleted(self) -> bool:
        return self.api_key_encrypted is None


class WhatsAppConfigChanged(_ConfigChange):
    event_type: Literal["WhatsAppConfigChanged"] = "WhatsAppConfigChanged"
    user_id: uuid.UUID
    phone_number_id: str | None
    display_phone_number: str | None
    is_active: bool
    access_token_encrypted: str | None = None
    app_secret_encrypted: str | None = None
    verify_token_encrypted: str | None = None


class TwilioConfigChanged(_ConfigChange):
    """A tenant's Twilio number and credentials; phone_number None = deleted."""

    event_type: Literal["TwilioConfigChanged"] = "TwilioConfigChanged"
    user_id: uuid.UUID
    account_sid: str | None
    phone_number: str | None
    is_active: bool
    auth_token_encrypted: str | None = None


class WebhookLinksChanged(_ConfigChange):
    event_type: Literal["WebhookLinksChanged"] = "WebhookLinksChanged"
    user_id: uuid.UUID
    webhook_url: str | None
    groq_api_url: str | None
    webhook_enabled: bool
    groq_enabled: bool


class ConversationSettingsChanged(_ConfigChange):
    """A tenant's conversation settings (issue 14); a tenant without one uses the defaults."""

    event_type: Literal["ConversationSettingsChanged"] = "ConversationSettingsChanged"
    user_id: uuid.UUID
    turn_quiet_ms: int = Field(2000, ge=0, le=60000, description="0 = a reply per message")
    turn_max_ms: int = Field(8000, ge=0, le=120000, description="From the turn's first message")
    typing_indicator: bool = True
    read_receipts: bool = True
    human_expiry_s: int = Field(
        43200, ge=60, le=2592000, description="A human or a pause hands back to the bot after"
    )
    handoff_phrases: list[str] = Field(default_factory=list, description="[] = the defaults")
    reengagement_template: str | None = Field(
        default=None, description="Approved template sent when the 24-hour window has closed"
    )
    template_language: str = "fr"


class MediaSettingsChanged(_ConfigChange):
    """A tenant's media settings (issue 15); a tenant without one uses the defaults
    (whisper-large-v3-turbo, language detected, no vision model, French polite texts)."""

    event_type: Literal["MediaSettingsChanged"] = "MediaSettingsChanged"
    user_id: uuid.UUID
    transcription_model: str = Field("whisper-large-v3-turbo", min_length=1, max_length=128)
    language_hint: str | None = Field(
        default=None, min_length=2, max_length=8, description="ISO 639-1; None = detect"
    )
    vision_model: str | None = Field(
        default=None, max_length=128, description="None: images get the polite text"
    )
    text_language: str = Field("fr", min_length=2, max_length=8, description="Polite texts")
    polite_texts: dict[str, str] = Field(
        default_factory=dict, description="Media kind → the tenant's own text; {} = defaults"
    )
    document_text_limit: int = Field(20000, ge=0, le=200000, description="0 = not read")


class KeyStatus(StrEnum):
    ACTIVE = "active"  # checked against Groq's /models and accepted
    UNCHECKED = "unchecked"  # Groq was unreachable when saved; checked again later
    INVALID = "invalid"  # Groq refused it (401/403): skipped until the tenant replaces it


class GroqPoolKey(BaseModel):
    """One key of a tenant's pool, as the responder needs it (no hint, no label text)."""

    model_config = ConfigDict(frozen=True)

    key_id: str = Field(min_length=1, max_length=64, description="Stable id of the key")
    label: str = Field("", max_length=100, description="The tenant's name for the key")
    organization: str | None = Field(
        default=None,
        max_length=100,
        description="Groq organization label: keys of one organization share its rate "
        "limits, so a 429 cools them all; None = the key is its own organization",
    )
    priority: int = Field(0, ge=0, le=1000, description="Lower is tried first")
    enabled: bool = True
    status: KeyStatus = KeyStatus.UNCHECKED
    api_key_encrypted: str = Field(description="Fernet ciphertext made with SECRETS_KEY")


class GroqKeyPoolChanged(_ConfigChange):
    """A tenant's Groq key pool (issue 16): tried in priority order before the tenant's
    single groq-config key, which stays the pool's last member. keys [] = no pool."""

    event_type: Literal["GroqKeyPoolChanged"] = "GroqKeyPoolChanged"
    user_id: uuid.UUID
    keys: list[GroqPoolKey] = Field(default_factory=list)
    fallback_model: str | None = Field(
        default=None,
        max_length=200,
        description="Used when the tenant's model is decommissioned; None = the system default",
    )
    cheaper_model: str | None = Field(
        default=None, max_length=200, description="Used first when a limit is reached"
    )
    unavailable_models: list[str] = Field(
        default_factory=list,
        description="Models Groq reported decommissioned or absent for this tenant: the "
        "responder goes straight to the fallback model",
    )


DEFAULT_LIMIT_TEXT = (
    "Nous recevons beaucoup de messages en ce moment. Un membre de notre équipe vous "
    "répondra dès que possible."
)


class TenantLimitsChanged(_ConfigChange):
    """A tenant's limits (user_id set) or the system default (user_id None), issue 16: a
    tenant without its own uses the system default; None for a limit = no limit. Over a
    limit the responder degrades: cheaper model → system fallback → the polite text."""

    event_type: Literal["TenantLimitsChanged"] = "TenantLimitsChanged"
    user_id: uuid.UUID | None
    messages_per_minute: int | None = Field(
        default=None, ge=1, le=100_000, description="The tenant's messages answered a minute"
    )
    tokens_per_day: int | None = Field(
        default=None, ge=1_000, le=1_000_000_000, description="Groq tokens a UTC day"
    )
    flood_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=1_000,
        description="Messages a minute from one customer number; over it the customer's "
        "messages are not answered (the tenant's other customers are)",
    )
    use_cheaper_model: bool = Field(True, description="Over a limit: the cheaper model first")
    use_system_fallback: bool = Field(
        False, description="Over a limit: then the system fallback configuration"
    )
    polite_text: str = Field(
        DEFAULT_LIMIT_TEXT,
        min_length=1,
        max_length=1000,
        description="Last step: sent to the customer, and the conversation goes to a person",
    )
    inherits: bool = Field(
        False,
        description="True: the tenant's own limits were removed, the system default applies "
        "(the other fields are then meaningless)",
    )


class SystemSettingsChanged(_ConfigChange):
    event_type: Literal["SystemSettingsChanged"] = "SystemSettingsChanged"
    fallback_enabled: bool


ConfigEvent = Annotated[
    GroqConfigChanged
    | WhatsAppConfigChanged
    | TwilioConfigChanged
    | WebhookLinksChanged
    | ConversationSettingsChanged
    | SystemSettingsChanged
    | MediaSettingsChanged
    | GroqKeyPoolChanged
    | TenantLimitsChanged,
    Field(discriminator="event_type"),
]


def config_event_key(
    event: GroqConfigChanged
    | WhatsAppConfigChanged
    | TwilioConfigChanged
    | WebhookLinksChanged
    | ConversationSettingsChanged
    | SystemSettingsChanged
    | MediaSettingsChanged
    | GroqKeyPoolChanged
    | TenantLimitsChanged,
) -> str:
    """Compaction key: the latest event per key is the current state of that entity."""
    if isinstance(event, SystemSettingsChanged):
        return "system-settings"
    owner = "system" if event.user_id is None else str(event.user_id)
    return f"{event.event_type}:{owner}"
