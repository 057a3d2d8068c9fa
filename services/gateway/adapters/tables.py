"""Tables owned by the gateway: accepted inbound messages (idempotency) and its outbox."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, Text, Uuid, func, text
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
    Column("kind", String(32), nullable=False, server_default="text"),
    Column("answered", Boolean, nullable=False, server_default=text("true")),
    Column("fingerprint", String(64), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("outcome", JSONB),
    Column("outcome_attempt", Integer),
    Column("user_id", Uuid),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="owner: gateway",
)

# One row per reply going out to a provider: the intent (claimed with a lease) and the
# outcome, so a redelivered ResponseGenerated never sends twice.
outbound_deliveries = Table(
    "outbound_deliveries",
    metadata,
    Column("message_id", String(256), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # sending | sent | failed
    Column("parts_total", Integer, nullable=False),
    Column("parts_sent", Integer, nullable=False, server_default="0"),
    Column("provider_message_ids", JSONB, nullable=False, server_default="[]"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="owner: gateway",
)

# Provider receipts (sent, delivered, read, failed) of our outbound messages.
delivery_receipts = Table(
    "delivery_receipts",
    metadata,
    Column("provider_message_id", String(256), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(64)),
    Column("provider_timestamp", String(32)),
    Column("errors", JSONB, nullable=False, server_default="[]"),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="owner: gateway",
)

gateway_outbox = outbox_table("gateway_outbox", metadata)
