"""Tables owned by the responder: the conversation store (the seed's customer_conversations)
and the turns being assembled."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

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

# Turn assembly (issue 14): the customer's messages of one conversation that arrived within
# the tenant's quiet window, answered by one model call. The table is the state: a consumer
# commits a record's offset once its message joined a turn, and any replica's poller claims
# a due turn (FOR UPDATE SKIP LOCKED + a lease), so a restart or a second replica loses
# nothing and answers nothing twice.
TURN_STATES = ("open", "replied", "done", "failed", "skipped")
responder_turns = Table(
    "responder_turns",
    metadata,
    Column("turn_id", Uuid, primary_key=True),
    Column("conversation_key", String(512), nullable=False),
    Column("user_id", Uuid),
    # open: collecting or generating; replied: reply stored, not yet published; done,
    # failed (ResponseFailed published), skipped (a human owns it, or nothing to answer).
    Column("state", String(16), nullable=False),
    # Bumped by each joining message (and a transcript): a generation started at an older
    # version is superseded, never published.
    Column("version", Integer, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("awaiting_media", Integer, nullable=False, server_default="0"),
    Column("media_deadline", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    Column("leased_by", String(64)),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("failing_since", DateTime(timezone=True)),
    Column("reply_message_id", String(256)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(f"state in {TURN_STATES!r}", name="state"),
    # At most one open turn per conversation: a message joins it or opens the next one.
    Index(
        "uq_responder_turns_open_conversation",
        "conversation_key",
        unique=True,
        postgresql_where=text("state = 'open'"),
    ),
    # A conversation's latest finished turns (failures in a row hand it to a person).
    Index("ix_responder_turns_conversation", "conversation_key", "updated_at"),
    Index(
        "ix_responder_turns_due",
        "due_at",
        postgresql_where=text("state in ('open', 'replied')"),
    ),
    comment="owner: responder",
)

responder_turn_messages = Table(
    "responder_turn_messages",
    metadata,
    # One row per message, forever: a redelivered message finds it and joins nothing.
    Column("message_id", String(256), primary_key=True),
    Column("turn_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False),
    # The UserIdentified as received; its text becomes the transcript of a voice note.
    Column("event", JSONB, nullable=False),
    Column("awaiting_media", Boolean, nullable=False),
    Column("fallback_text", Text),
    Column("joined_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_responder_turn_messages_turn", "turn_id", "position"),
    comment="owner: responder",
)

# Issue 16 (migration 0009): limit counters, one row per (scope, bucket): `t:<tenant>` and
# `c:<tenant>:<customer>` per minute (messages), `d:<tenant>` per UTC day (tokens). Every
# replica adds to the same row with one INSERT … ON CONFLICT DO UPDATE … RETURNING, so the
# count is exact across replicas and survives a restart; old buckets expire.
responder_limit_counters = Table(
    "responder_limit_counters",
    metadata,
    Column("scope", String(600), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_responder_limit_counters_expires_at", "expires_at"),
    comment="owner: responder",
)
