"""Tables owned by the responder: the conversation store (the seed's customer_conversations)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)

from shared.tables import metadata

customer_conversations = Table(
    "customer_conversations",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("message_id", String(256), nullable=False),
    Column("user_id", Uuid),
    Column("phone_number", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("sender", String(8), nullable=False),
    Column("source", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("config_source", String(16)),
    Column("model", String(200)),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("sender in ('user', 'bot')", name="sender"),
    # Idempotency: one inbound row and at most one bot reply per message, whatever the retries.
    UniqueConstraint("message_id", "sender", name="uq_customer_conversations_message_sender"),
    Index("ix_customer_conversations_context", "phone_number", "user_id", "created_at"),
    Index("ix_customer_conversations_created_at", "created_at"),
    comment="owner: responder",
)
