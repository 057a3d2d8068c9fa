"""Tables owned by the config service (the seed's settings tables plus system ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.outbox import outbox_table
from shared.tables import metadata

_now = func.now()


def created_and_updated() -> tuple[Column[datetime], Column[datetime]]:
    """A row's `created_at` and `updated_at`, both defaulting to the database's clock."""
    return (
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    )


def _active_unique(name: str, column: str) -> Index:
    """One active owner per number, enforced by the database (the API answers 409)."""
    return Index(name, column, unique=True, postgresql_where=text("is_active"))


user_groq_config = Table(
    "user_groq_config",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("api_key_encrypted", Text, nullable=False),
    Column("api_key_hint", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("temperature", Float, nullable=False),
    *created_and_updated(),
    comment="owner: config",
)

user_whatsapp_config = Table(
    "user_whatsapp_config",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("phone_number_id", String(64), nullable=False),
    Column("display_phone_number", String(32), nullable=False),
    Column("access_token_encrypted", Text, nullable=False),
    Column("access_token_hint", String(32), nullable=False),
    Column("app_secret_encrypted", Text),
    Column("verify_token_encrypted", Text),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    *created_and_updated(),
    _active_unique("uq_whatsapp_active_display_number", "display_phone_number"),
    _active_unique("uq_whatsapp_active_phone_number_id", "phone_number_id"),
    comment="owner: config",
)

user_twilio_config = Table(
    "user_twilio_config",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("account_sid", String(64), nullable=False),
    Column("auth_token_encrypted", Text, nullable=False),
    Column("auth_token_hint", String(32), nullable=False),
    Column("phone_number", String(32), nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    *created_and_updated(),
    _active_unique("uq_twilio_active_phone_number", "phone_number"),
    comment="owner: config",
)

webhook_api_links = Table(
    "webhook_api_links",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("webhook_url", Text),
    Column("groq_api_url", Text),
    Column("webhook_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("groq_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    comment="owner: config",
)

system_groq_config = Table(
    "system_groq_config",
    metadata,
    Column("id", SmallInteger, primary_key=True, server_default=text("1")),
    Column("api_key_encrypted", Text, nullable=False),
    Column("api_key_hint", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("temperature", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    comment="owner: config; the explicit system fallback (one row)",
)

system_settings = Table(
    "system_settings",
    metadata,
    Column("id", SmallInteger, primary_key=True, server_default=text("1")),
    Column("fallback_enabled", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    comment="owner: config",
)

# Issues 14 and 15 (migration 0007): a tenant without a row uses the contract's defaults.
conversation_settings = Table(
    "conversation_settings",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("turn_quiet_ms", Integer, nullable=False),
    Column("turn_max_ms", Integer, nullable=False),
    Column("typing_indicator", Boolean, nullable=False),
    Column("read_receipts", Boolean, nullable=False),
    Column("human_expiry_s", Integer, nullable=False),
    Column("handoff_phrases", ARRAY(Text), nullable=False, server_default="{}"),
    Column("reengagement_template", String(512)),
    Column("template_language", String(16), nullable=False),
    *created_and_updated(),
    comment="owner: config",
)


# Issue 16 (migration 0009): the administrator's limits, per tenant and the system default;
# a tenant without a row uses the system row, and with neither there is no limit.
def _limit_columns() -> list[Column[Any]]:
    return [
        Column("messages_per_minute", Integer),
        Column("tokens_per_day", BigInteger),
        Column("flood_per_minute", Integer),
        Column("use_cheaper_model", Boolean, nullable=False),
        Column("use_system_fallback", Boolean, nullable=False),
        Column("polite_text", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    ]


tenant_limits = Table(
    "tenant_limits",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    *_limit_columns(),
    comment="owner: config",
)
system_limits = Table(
    "system_limits",
    metadata,
    Column("id", SmallInteger, primary_key=True, server_default=text("1")),
    *_limit_columns(),
    comment="owner: config",
)

media_settings = Table(
    "media_settings",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("transcription_model", String(128), nullable=False),
    Column("language_hint", String(8)),
    Column("vision_model", String(128)),
    Column("text_language", String(8), nullable=False),
    Column("polite_texts", JSONB, nullable=False, server_default="{}"),
    Column("document_text_limit", Integer, nullable=False),
    *created_and_updated(),
    comment="owner: config",
)


def _owner_columns() -> list[Column[Any]]:
    """Who answers, since when, until when, and who said so (ConversationOwnerChanged)."""
    return [
        Column("owner", String(16), nullable=False, server_default="bot"),
        Column("owner_until", DateTime(timezone=True)),
        Column("owner_changed_by", String(32)),
        Column("owner_actor", String(64)),
        Column("owner_reason", Text),
        Column("owner_message_id", String(256)),
        Column("owner_changed_at", DateTime(timezone=True)),
    ]


# Read models of the projection (config_worker writes them; a tenant reads its own rows):
# a conversation's traffic (identified messages) and its current owner; and the tenant-wide
# pause / resume. Rebuilt from the topics by the config replay command.
conversations = Table(
    "conversations",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("conversation_key", String(512), primary_key=True),
    Column("channel", String(16)),
    Column("customer_phone", String(64)),
    Column("business_phone", String(64)),
    Column("first_message_at", DateTime(timezone=True)),
    Column("last_message_at", DateTime(timezone=True)),
    Column("message_count", BigInteger, nullable=False, server_default="0"),
    *_owner_columns(),
    Index("ix_conversations_user_last", "user_id", "last_message_at"),
    comment="owner: config; projection of the message topics and conversations.owner.v1",
)

conversation_tenant_owner = Table(
    "conversation_tenant_owner",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    *_owner_columns(),
    comment="owner: config; projection of conversations.owner.v1 (tenant-wide switches)",
)

config_outbox = outbox_table("config_outbox", metadata)
# The newest outbox row of an entity (adapters/compaction.py): ids per key follow versions.
Index("ix_config_outbox_key_id", config_outbox.c.key, config_outbox.c.id)

# Each entity's change counter (migration 0004). Drawn with the event in the writing
# transaction, the row lock orders the counter like the commits; kept when the entity is
# deleted, so a re-created entity continues its count instead of starting again at 1.
config_versions = Table(
    "config_versions",
    metadata,
    Column("entity_key", String(512), primary_key=True, comment="the event's compaction key"),
    Column("user_id", Uuid, comment="the tenant (row-level security); NULL = system"),
    Column("version", BigInteger, nullable=False),
    comment="owner: config",
)

# Who changed which settings, when, under which request trace. Field NAMES only, never
# values: a secret's value never reaches this table (not even encrypted).
config_audit_log = Table(
    "config_audit_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("user_id", Uuid, comment="the tenant whose settings changed; NULL = system settings"),
    Column("actor_role", String(16), nullable=False, comment="user | admin | system"),
    Column("actor_id", Uuid, comment="JWT sub of the caller, when it has one"),
    Column("entity", String(32), nullable=False),
    Column("action", String(16), nullable=False, comment="created | updated | deleted | rotated"),
    Column("changed_fields", ARRAY(String(64)), nullable=False, server_default="{}"),
    Column("trace_id", String(32)),
    Index("ix_config_audit_log_user_time", "user_id", "occurred_at"),
    Index("ix_config_audit_log_occurred_at", "occurred_at"),
    comment="owner: config; append-only",
)

# A projection of the message topics (received, identified, outcomes, deliveries) that the
# monitoring endpoints and the message timeline read, so the config service never reads
# another service's tables. One row per event (event_id unique: a redelivery is a no-op).
message_events = Table(
    "message_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("service", String(32), nullable=False, comment="the service that emitted it"),
    Column("topic", String(200), nullable=False),
    Column("message_id", String(256), comment="NULL for provider receipts"),
    Column("attempt", Integer),
    Column("user_id", Uuid),
    Column("provider_message_id", String(256), comment="receipts: our outbound message"),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("trace_id", String(32)),
    Column("summary", JSONB, nullable=False, server_default="{}"),
    Index("ix_message_events_message", "message_id", "occurred_at"),
    Index("ix_message_events_type_time", "event_type", "occurred_at"),
    Index("ix_message_events_user", "user_id"),
    Index("ix_message_events_provider_message", "provider_message_id"),
    comment="owner: config; projection of the message topics",
)
