"""Tables owned by the gateway: accepted inbound messages (idempotency) and its outbox."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB

from shared.outbox import outbox_table
from shared.tables import metadata

inbound_messages = Table(
    "inbound_messages",
    metadata,
    # The provider's or caller's message id: the primary key makes acceptance atomic
    # across gateway replicas and restarts.
    Column("message_id", String(256), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("outcome", JSONB),
    Column("outcome_attempt", Integer),
    Column("user_id", Uuid),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="owner: gateway",
)

gateway_outbox = outbox_table("gateway_outbox", metadata)
