"""config: conversation and media settings, conversation owners (issues 14, 15)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 21:00:00

Two tenant settings tables, written by the API as `config_api` (row-level security on
app.user_id) or `config_admin`, exactly like the settings tables of 0003; and two read
models of the config projection, written by `config_worker` from the message topics and
`conversations.owner.v1` (rebuildable by the config replay command): one row per
conversation (traffic and current owner) and one per tenant-wide pause / resume. A tenant
reads its own rows of both; it never writes them (the owner changes it asks for are events).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API, ADMIN, WORKER = "config_api", "config_admin", "config_worker"
SETTINGS_TABLES = ("conversation_settings", "media_settings")
READ_MODELS = ("conversations", "conversation_tenant_owner")
CURRENT_TENANT = "nullif(current_setting('app.user_id', true), '')::uuid"


def _timestamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def _owner_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("owner", sa.String(length=16), server_default="bot", nullable=False),
        sa.Column("owner_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_changed_by", sa.String(length=32), nullable=True),
        sa.Column("owner_actor", sa.String(length=64), nullable=True),
        sa.Column("owner_reason", sa.Text(), nullable=True),
        sa.Column("owner_message_id", sa.String(length=256), nullable=True),
        sa.Column("owner_changed_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _create_tables() -> None:
    op.create_table(
        "conversation_settings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("turn_quiet_ms", sa.Integer(), nullable=False),
        sa.Column("turn_max_ms", sa.Integer(), nullable=False),
        sa.Column("typing_indicator", sa.Boolean(), nullable=False),
        sa.Column("read_receipts", sa.Boolean(), nullable=False),
        sa.Column("human_expiry_s", sa.Integer(), nullable=False),
        sa.Column(
            "handoff_phrases",
            postgresql.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("reengagement_template", sa.String(length=512), nullable=True),
        sa.Column("template_language", sa.String(length=16), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_conversation_settings")),
        comment="owner: config",
    )
    op.create_table(
        "media_settings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("transcription_model", sa.String(length=128), nullable=False),
        sa.Column("language_hint", sa.String(length=8), nullable=True),
        sa.Column("vision_model", sa.String(length=128), nullable=True),
        sa.Column("text_language", sa.String(length=8), nullable=False),
        sa.Column(
            "polite_texts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("document_text_limit", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_media_settings")),
        comment="owner: config",
    )
    op.create_table(
        "conversations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_key", sa.String(length=512), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("customer_phone", sa.String(length=64), nullable=True),
        sa.Column("business_phone", sa.String(length=64), nullable=True),
        sa.Column("first_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_count", sa.BigInteger(), server_default="0", nullable=False),
        *_owner_columns(),
        sa.PrimaryKeyConstraint("user_id", "conversation_key", name=op.f("pk_conversations")),
        comment="owner: config; projection of the message topics and conversations.owner.v1",
    )
    op.create_index(
        "ix_conversations_user_last",
        "conversations",
        ["user_id", "last_message_at"],
        unique=False,
    )
    op.create_table(
        "conversation_tenant_owner",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        *_owner_columns(),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_conversation_tenant_owner")),
        comment="owner: config; projection of conversations.owner.v1 (tenant-wide switches)",
    )


def _grant_and_protect() -> None:
    for table in (*SETTINGS_TABLES, *READ_MODELS):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for table in SETTINGS_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {API}, {ADMIN}")
        op.execute(
            f"CREATE POLICY config_tenant_isolation ON {table} FOR ALL TO {API}"
            f" USING (user_id = {CURRENT_TENANT}) WITH CHECK (user_id = {CURRENT_TENANT})"
        )
        op.execute(
            f"CREATE POLICY config_admin_all ON {table} FOR ALL TO {ADMIN}"
            " USING (true) WITH CHECK (true)"
        )
    for table in READ_MODELS:
        op.execute(f"GRANT SELECT ON {table} TO {API}, {ADMIN}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {WORKER}")
        op.execute(
            f"CREATE POLICY config_tenant_reads_own ON {table} FOR SELECT TO {API}"
            f" USING (user_id = {CURRENT_TENANT})"
        )
        op.execute(
            f"CREATE POLICY config_admin_reads ON {table} FOR SELECT TO {ADMIN} USING (true)"
        )
        op.execute(
            f"CREATE POLICY config_worker_projects ON {table} FOR ALL TO {WORKER}"
            " USING (true) WITH CHECK (true)"
        )


def upgrade() -> None:
    _create_tables()
    _grant_and_protect()


def downgrade() -> None:
    op.drop_table("conversation_tenant_owner")  # its policies and grants go with it
    op.drop_index("ix_conversations_user_last", table_name="conversations")
    op.drop_table("conversations")
    op.drop_table("media_settings")
    op.drop_table("conversation_settings")
