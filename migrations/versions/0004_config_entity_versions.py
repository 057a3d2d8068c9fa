"""config: a change counter per entity, carried by each config event as `version`

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00

Each config write draws the next version of its entity from `config_versions` (an upsert
that increments and returns it) in the transaction that writes the entity, so versions
follow commit order even when the events reach Kafka in another order. Rows outlive the
entity (a delete is a versioned change too). Existing entities start at 1 with their next
change; the events already on the topic have no version (read as 0, applied in order).
The index finds an entity's newest outbox row (the compacted topic's last record must be
the newest change).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API, ADMIN = "config_api", "config_admin"
CURRENT_TENANT = "nullif(current_setting('app.user_id', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column(
            "entity_key",
            sa.String(length=512),
            nullable=False,
            comment="the event's compaction key",
        ),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=True,
            comment="the tenant (row-level security); NULL = system",
        ),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("entity_key", name=op.f("pk_config_versions")),
        comment="owner: config",
    )
    op.create_index("ix_config_outbox_key_id", "config_outbox", ["key", "id"], unique=False)
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON config_versions TO {API}, {ADMIN}")
    op.execute("ALTER TABLE config_versions ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE config_versions FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY config_tenant_isolation ON config_versions FOR ALL TO {API}"
        f" USING (user_id = {CURRENT_TENANT}) WITH CHECK (user_id = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY config_admin_all ON config_versions FOR ALL TO {ADMIN}"
        " USING (true) WITH CHECK (true)"
    )


def downgrade() -> None:
    op.drop_index("ix_config_outbox_key_id", table_name="config_outbox")
    op.drop_table("config_versions")  # its policies and grants go with it
