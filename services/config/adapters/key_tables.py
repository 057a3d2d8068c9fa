"""Tables of a tenant's Groq key pool (issue 16), owned by the config service.

Keys are write-only like every secret here: Fernet ciphertext and a hint, never the key.
Row-level security as for the other tenant tables (migration 0008).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from services.config.adapters.tables import created_and_updated, message_events
from shared.tables import metadata

_now = func.now()

groq_pool_keys = Table(
    "groq_pool_keys",
    metadata,
    Column("key_id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("label", String(100), nullable=False, server_default=""),
    Column("organization", String(100), comment="keys of one organization share its limits"),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("api_key_encrypted", Text, nullable=False),
    Column("api_key_hint", String(32), nullable=False),
    Column("status", String(16), nullable=False, comment="active | unchecked | invalid"),
    Column("status_detail", String(300), nullable=False, server_default=""),
    Column("checked_at", DateTime(timezone=True), comment="last /models check; NULL = never"),
    *created_and_updated(),
    Index("ix_groq_pool_keys_user", "user_id", "priority"),
    comment="owner: config; a tenant's Groq keys (issue 16)",
)

groq_pool_settings = Table(
    "groq_pool_settings",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("fallback_model", String(200)),
    Column("cheaper_model", String(200)),
    Column(
        "unavailable_models",
        ARRAY(String(200)),
        nullable=False,
        server_default="{}",
        comment="reported decommissioned or absent: the fallback model answers instead",
    ),
    Column("model_status", String(500), nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    comment="owner: config; a tenant's fallback/cheaper model and model status (issue 16)",
)

# /v1/me/usage reads one tenant's projected events over a time range (migration 0008).
Index("ix_message_events_user_time", message_events.c.user_id, message_events.c.occurred_at)
