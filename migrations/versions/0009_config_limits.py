"""config: limits per tenant and the system default (issue 16); responder: limit counters

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 22:00:00

`tenant_limits` is written by the administrator (`config_admin`) and read by its tenant
(`config_api`, row-level security on app.user_id); `system_limits` (one row) is written by
the administrator and readable by tenants (no secret in it: it is what applies to a tenant
without its own row). `responder_limit_counters` is the responder's own operational state
(it connects as the owner): one row per (scope, time bucket), incremented atomically by
`INSERT … ON CONFLICT DO UPDATE … RETURNING`, so every replica counts the same number.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API, ADMIN = "config_api", "config_admin"
CURRENT_TENANT = "nullif(current_setting('app.user_id', true), '')::uuid"


def _limit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("messages_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.BigInteger(), nullable=True),
        sa.Column("flood_per_minute", sa.Integer(), nullable=True),
        sa.Column("use_cheaper_model", sa.Boolean(), nullable=False),
        sa.Column("use_system_fallback", sa.Boolean(), nullable=False),
        sa.Column("polite_text", sa.Text(), nullable=False),
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


def upgrade() -> None:
    op.create_table(
        "tenant_limits",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        *_limit_columns(),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_tenant_limits")),
        comment="owner: config",
    )
    op.create_table(
        "system_limits",
        sa.Column("id", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        *_limit_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_limits")),
        comment="owner: config",
    )
    op.create_table(
        "responder_limit_counters",
        sa.Column("scope", sa.String(length=600), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "bucket", name=op.f("pk_responder_limit_counters")),
        comment="owner: responder",
    )
    op.create_index(
        "ix_responder_limit_counters_expires_at", "responder_limit_counters", ["expires_at"]
    )
    op.execute("ALTER TABLE tenant_limits ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenant_limits FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT SELECT ON tenant_limits TO {API}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_limits TO {ADMIN}")
    op.execute(
        f"CREATE POLICY config_tenant_reads_own ON tenant_limits FOR SELECT TO {API}"
        f" USING (user_id = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY config_admin_all ON tenant_limits FOR ALL TO {ADMIN}"
        " USING (true) WITH CHECK (true)"
    )
    op.execute(f"GRANT SELECT ON system_limits TO {API}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON system_limits TO {ADMIN}")


def downgrade() -> None:
    op.drop_index("ix_responder_limit_counters_expires_at", table_name="responder_limit_counters")
    op.drop_table("responder_limit_counters")
    op.drop_table("system_limits")
    op.drop_table("tenant_limits")  # its policies and grants go with it
