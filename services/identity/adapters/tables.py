"""Tables owned by identity: who each customer number last talked to (the history lookup)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table, Uuid

from shared.tables import metadata

# A read model of UserIdentified events: replaying messages.identified.v1 rebuilds it.
identity_customer_history = Table(
    "identity_customer_history",
    metadata,
    Column("customer_phone", String(64), primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    comment="owner: identity",
)
