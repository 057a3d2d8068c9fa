"""The outbox's rows: its table shape (each owning service names its own table), what a
write path stages, and what was staged (kept for the fast path)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import propagate
from opentelemetry.context import Context
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB


def outbox_table(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(512), nullable=False),
        Column("payload", Text, nullable=False),
        Column("trace_carrier", JSONB, nullable=False, server_default="{}"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), index=True),
        comment="transactional outbox",
    )


def trace_carrier(context: Context | None = None) -> dict[str, str]:
    """The trace context (default: the current one), as an outbox row keeps it."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context)
    return carrier


@dataclass(frozen=True)
class OutboxEntry:
    topic: str
    key: str
    event: BaseModel
    carrier: dict[str, str]


@dataclass(frozen=True)
class StagedEvent:
    """An event written to the outbox in the caller's transaction, kept for the fast path."""

    id: int
    topic: str
    key: str
    payload: str
    trace_carrier: dict[str, str]
