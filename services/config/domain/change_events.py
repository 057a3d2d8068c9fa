"""The config-change event that describes a stored row (secrets stay ciphertext). Pure."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from services.config.domain.changes import Entity
from shared.contracts.config_events import (
    ConversationSettingsChanged,
    GroqConfigChanged,
    GroqKeyPoolChanged,
    MediaSettingsChanged,
    SystemSettingsChanged,
    TenantLimitsChanged,
    TwilioConfigChanged,
    WebhookLinksChanged,
    WhatsAppConfigChanged,
)

ConfigChange = (
    GroqConfigChanged
    | WhatsAppConfigChanged
    | TwilioConfigChanged
    | WebhookLinksChanged
    | SystemSettingsChanged
    | ConversationSettingsChanged
    | MediaSettingsChanged
    | GroqKeyPoolChanged
    | TenantLimitsChanged
)
Row = Mapping[Any, Any]  # a stored row by column name (SQLAlchemy RowMapping)


def groq_changed(user_id: uuid.UUID | None, row: Row | None) -> GroqConfigChanged:
    columns = ("api_key_encrypted", "model", "temperature")
    return GroqConfigChanged(user_id=user_id, **_columns(row, columns, dict.fromkeys(columns)))


def whatsapp_changed(user_id: uuid.UUID, row: Row | None) -> WhatsAppConfigChanged:
    columns = ("phone_number_id", "display_phone_number", "is_active")
    secrets = ("access_token_encrypted", "app_secret_encrypted", "verify_token_encrypted")
    gone = {"phone_number_id": None, "display_phone_number": None, "is_active": False}
    return WhatsAppConfigChanged(user_id=user_id, **_columns(row, columns + secrets, gone))


def twilio_changed(user_id: uuid.UUID, row: Row | None) -> TwilioConfigChanged:
    columns = ("account_sid", "phone_number", "is_active", "auth_token_encrypted")
    gone = {"account_sid": None, "phone_number": None, "is_active": False}
    return TwilioConfigChanged(user_id=user_id, **_columns(row, columns, gone))


def _columns(row: Row | None, names: tuple[str, ...], gone: dict[str, Any]) -> dict[str, Any]:
    """The event's fields from the row's columns of the same names; `gone` once deleted."""
    return gone if row is None else {name: row[name] for name in names}


def links_changed(user_id: uuid.UUID, row: Row) -> WebhookLinksChanged:
    return WebhookLinksChanged(
        user_id=user_id,
        webhook_url=row["webhook_url"],
        groq_api_url=row["groq_api_url"],
        webhook_enabled=row["webhook_enabled"],
        groq_enabled=row["groq_enabled"],
    )


def settings_changed(row: Row) -> SystemSettingsChanged:
    return SystemSettingsChanged(fallback_enabled=row["fallback_enabled"])


# The settings columns, named as the events' fields (issues 14 and 15).
CONVERSATION_SETTINGS_FIELDS = (
    "turn_quiet_ms",
    "turn_max_ms",
    "typing_indicator",
    "read_receipts",
    "human_expiry_s",
    "handoff_phrases",
    "reengagement_template",
    "template_language",
)
MEDIA_SETTINGS_FIELDS = (
    "transcription_model",
    "language_hint",
    "vision_model",
    "text_language",
    "polite_texts",
    "document_text_limit",
)


def conversation_settings_changed(user_id: uuid.UUID, row: Row) -> ConversationSettingsChanged:
    values = {name: row[name] for name in CONVERSATION_SETTINGS_FIELDS}
    return ConversationSettingsChanged(user_id=user_id, **values)


def media_settings_changed(user_id: uuid.UUID, row: Row) -> MediaSettingsChanged:
    values = {name: row[name] for name in MEDIA_SETTINGS_FIELDS}
    return MediaSettingsChanged(user_id=user_id, **values)


LIMIT_FIELDS = (
    "messages_per_minute",
    "tokens_per_day",
    "flood_per_minute",
    "use_cheaper_model",
    "use_system_fallback",
    "polite_text",
)


def limits_changed(user_id: uuid.UUID | None, row: Row) -> TenantLimitsChanged:
    values = {name: row[name] for name in LIMIT_FIELDS}
    return TenantLimitsChanged(user_id=user_id, **values)


def event_for(entity: Entity, user_id: uuid.UUID | None, row: Row | None) -> ConfigChange:
    """The event saying the entity is now `row` (None: deleted)."""
    if entity is Entity.SYSTEM_GROQ:
        return groq_changed(None, row)
    if entity is Entity.SYSTEM_SETTINGS and row is not None:
        return settings_changed(row)
    if entity is Entity.SYSTEM_LIMITS and row is not None:
        return limits_changed(None, row)
    if user_id is None:
        raise ValueError(f"{entity} needs a user")
    if entity is Entity.GROQ:
        return groq_changed(user_id, row)
    if entity is Entity.WHATSAPP:
        return whatsapp_changed(user_id, row)
    if entity is Entity.TWILIO:
        return twilio_changed(user_id, row)
    if entity is Entity.WEBHOOK_LINKS and row is not None:
        return links_changed(user_id, row)
    if entity is Entity.CONVERSATION_SETTINGS and row is not None:
        return conversation_settings_changed(user_id, row)
    if entity is Entity.MEDIA_SETTINGS and row is not None:
        return media_settings_changed(user_id, row)
    if entity is Entity.TENANT_LIMITS:
        if row is None:
            return TenantLimitsChanged(user_id=user_id, inherits=True)
        return limits_changed(user_id, row)
    raise ValueError(f"no event for {entity} without a row")
