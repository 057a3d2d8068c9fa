"""responder: durable turn assembly (issue 14)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 21:00:00

A pending turn per conversation (`responder_turns`, at most one open per conversation) and
the messages it holds in arrival order (`responder_turn_messages`, one row per message id
forever, so a redelivery joins nothing). Any replica's poller claims a due turn with
FOR UPDATE SKIP LOCKED and a lease. Operational state of the responder, not a read model:
it is not rebuilt by the replay (the replies it produced are, from messages.outcomes.v1).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "('open', 'replied', 'done', 'failed', 'skipped')"


def upgrade() -> None:
    op.create_table(
        "responder_turns",
        sa.Column("turn_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_key", sa.String(length=512), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("awaiting_media", sa.Integer(), server_default="0", nullable=False),
        sa.Column("media_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_message_id", sa.String(length=256), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(f"state in {STATES}", name=op.f("ck_responder_turns_state")),
        sa.PrimaryKeyConstraint("turn_id", name=op.f("pk_responder_turns")),
        comment="owner: responder",
    )
    op.create_index(
        "uq_responder_turns_open_conversation",
        "responder_turns",
        ["conversation_key"],
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "ix_responder_turns_conversation",
        "responder_turns",
        ["conversation_key", "updated_at"],
    )
    op.create_index(
        "ix_responder_turns_due",
        "responder_turns",
        ["due_at"],
        postgresql_where=sa.text("state in ('open', 'replied')"),
    )
    op.create_table(
        "responder_turn_messages",
        sa.Column("message_id", sa.String(length=256), nullable=False),
        sa.Column("turn_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("event", postgresql.JSONB(), nullable=False),
        sa.Column("awaiting_media", sa.Boolean(), nullable=False),
        sa.Column("fallback_text", sa.Text(), nullable=True),
        sa.Column(
            "joined_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_responder_turn_messages")),
        comment="owner: responder",
    )
    op.create_index(
        "ix_responder_turn_messages_turn",
        "responder_turn_messages",
        ["turn_id", "position"],
    )


def downgrade() -> None:
    op.drop_index("ix_responder_turn_messages_turn", table_name="responder_turn_messages")
    op.drop_table("responder_turn_messages")
    op.drop_index("ix_responder_turns_due", table_name="responder_turns")
    op.drop_index("ix_responder_turns_conversation", table_name="responder_turns")
    op.drop_index("uq_responder_turns_open_conversation", table_name="responder_turns")
    op.drop_table("responder_turns")
