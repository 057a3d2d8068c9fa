"""Tables owned by the config service (the seed's settings tables plus system ones)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from shared.outbox import outbox_table
from shared.tables import metadata

_now = func.now()

user_groq_config = Table(
    "user_groq_config",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("api_key_encrypted", Text, nullable=False),
    Column("api_key_hint", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("temperature", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    # One active owner per number, enforced by the database (API answers 409).
    Index(
        "uq_whatsapp_active_display_number",
        "display_phone_number",
        unique=True,
        postgresql_where=text("is_active"),
    ),
    Index(
        "uq_whatsapp_active_phone_number_id",
        "phone_number_id",
        unique=True,
        postgresql_where=text("is_active"),
    ),
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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index(
        "uq_twilio_active_phone_number",
        "phone_number",
        unique=True,
        postgresql_where=text("is_active"),
    ),
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

config_outbox = outbox_table("config_outbox", metadata)
