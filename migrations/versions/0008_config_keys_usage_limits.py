"""config: Groq key pool per tenant and its model settings (issue 16); tenants may read
their own rows of the message-event projection (their usage)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API, ADMIN = "config_api", "config_admin"
TABLES = ("groq_pool_keys", "groq_pool_settings")
CURRENT_TENANT = "nullif(current_setting('app.user_id', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "groq_pool_keys",
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=100), server_default="", nullable=False),
        sa.Column(
            "organization",
            sa.String(length=100),
            nullable=True,
            comment="keys of one organization share its limits",
        ),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=False),
        sa.Column("api_key_hint", sa.String(length=32), nullable=False),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="active | unchecked | invalid"
        ),
        sa.Column("status_detail", sa.String(length=300), server_default="", nullable=False),
        sa.Column(
            "checked_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="last /models check; NULL = never",
        ),
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
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_groq_pool_keys")),
        comment="owner: config; a tenant's Groq keys (issue 16)",
    )
    op.create_index(
        "ix_groq_pool_keys_user", "groq_pool_keys", ["user_id", "priority"], unique=False
    )
    op.create_table(
        "groq_pool_settings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("fallback_model", sa.String(length=200), nullable=True),
        sa.Column("cheaper_model", sa.String(length=200), nullable=True),
        sa.Column(
            "unavailable_models",
            postgresql.ARRAY(sa.String(length=200)),
            server_default="{}",
            nullable=False,
            comment="reported decommissioned or absent: the fallback model answers instead",
        ),
        sa.Column("model_status", sa.String(length=500), server_default="", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_groq_pool_settings")),
        comment="owner: config; a tenant's fallback/cheaper model and model status (issue 16)",
    )
    for table in TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {API}, {ADMIN}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY config_tenant_isolation ON {table} FOR ALL TO {API}"
            f" USING (user_id = {CURRENT_TENANT}) WITH CHECK (user_id = {CURRENT_TENANT})"
        )
        op.execute(
            f"CREATE POLICY config_admin_all ON {table} FOR ALL TO {ADMIN}"
            " USING (true) WITH CHECK (true)"
        )
    # /v1/me/usage aggregates the tenant's own projected events, under row-level security.
    op.execute(f"GRANT SELECT ON message_events TO {API}")
    op.execute(
        f"CREATE POLICY config_tenant_reads_own ON message_events FOR SELECT TO {API}"
        f" USING (user_id = {CURRENT_TENANT})"
    )
    op.create_index(
        "ix_message_events_user_time", "message_events", ["user_id", "occurred_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_message_events_user_time", table_name="message_events")
    op.execute("DROP POLICY IF EXISTS config_tenant_reads_own ON message_events")
    op.execute("REVOKE SELECT ON message_events FROM config_api")
    op.drop_table("groq_pool_settings")
    op.drop_index("ix_groq_pool_keys_user", table_name="groq_pool_keys")
    op.drop_table("groq_pool_keys")
