"""config: tenant isolation in the database (roles + row-level security), the audit log,
and the message-event projection behind the monitoring endpoints

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00

Roles (cluster-wide, NOLOGIN; created only when missing, so a second database in the same
cluster, or a re-run, is fine). The config service connects with DATABASE_URL (the schema
owner) and switches per transaction with `set_config('role', …, true)`:
- config_api    tenant requests; sees only rows whose user_id equals the per-transaction
                setting app.user_id (policies below), cannot touch system settings.
- config_admin  administrator requests and `rotate-secrets`: every row, through explicit
                policies (no BYPASSRLS: a non-superuser migration could not grant it).
- config_worker the outbox relay and the message-event projection.
None is superuser or owner of a table, and FORCE ROW LEVEL SECURITY makes even the owner
(the DATABASE_URL role) see no tenant row without choosing a role: a query that forgets its
`WHERE user_id = …` still sees one tenant only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API, ADMIN, WORKER = "config_api", "config_admin", "config_worker"
ROLES = (API, ADMIN, WORKER)
TENANT_TABLES = (
    "user_groq_config",
    "user_whatsapp_config",
    "user_twilio_config",
    "webhook_api_links",
)
CURRENT_TENANT = "nullif(current_setting('app.user_id', true), '')::uuid"


def _create_roles() -> None:
    for role in ROLES:
        op.execute(
            f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} NOLOGIN NOINHERIT;
                END IF;
                -- the migrating role (the service's DATABASE_URL role) must be able to
                -- SET ROLE to it; on PostgreSQL 16+ without inheriting its privileges, so
                -- the owner's own connection matches none of the role policies below.
                IF current_setting('server_version_num')::int >= 160000 THEN
                    IF NOT pg_has_role(current_user, '{role}', 'SET') THEN
                        EXECUTE 'GRANT {role} TO ' || quote_ident(current_user)
                            || ' WITH INHERIT FALSE, SET TRUE';
                    END IF;
                ELSIF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
                    EXECUTE 'GRANT {role} TO ' || quote_ident(current_user);
                END IF;
            END
            $$;
            """
        )
    op.execute(
        f"""
        DO $$
        BEGIN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO {API}, {ADMIN}, {WORKER}',
                           current_schema());
        END
        $$;
        """
    )


def _create_tables() -> None:
    op.create_table(
        "config_audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=True,
            comment="the tenant whose settings changed; NULL = system settings",
        ),
        sa.Column(
            "actor_role", sa.String(length=16), nullable=False, comment="user | admin | system"
        ),
        sa.Column(
            "actor_id", sa.Uuid(), nullable=True, comment="JWT sub of the caller, when it has one"
        ),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column(
            "action",
            sa.String(length=16),
            nullable=False,
            comment="created | updated | deleted | rotated",
        ),
        sa.Column(
            "changed_fields",
            postgresql.ARRAY(sa.String(length=64)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_audit_log")),
        comment="owner: config; append-only",
    )
    op.create_index(
        "ix_config_audit_log_occurred_at", "config_audit_log", ["occurred_at"], unique=False
    )
    op.create_index(
        "ix_config_audit_log_user_time",
        "config_audit_log",
        ["user_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "message_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column(
            "service", sa.String(length=32), nullable=False, comment="the service that emitted it"
        ),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column(
            "message_id",
            sa.String(length=256),
            nullable=True,
            comment="NULL for provider receipts",
        ),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "provider_message_id",
            sa.String(length=256),
            nullable=True,
            comment="receipts: our outbound message",
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_message_events_event_id")),
        comment="owner: config; projection of the message topics",
    )
    op.create_index(
        "ix_message_events_message", "message_events", ["message_id", "occurred_at"], unique=False
    )
    op.create_index(
        "ix_message_events_provider_message",
        "message_events",
        ["provider_message_id"],
        unique=False,
    )
    op.create_index(
        "ix_message_events_type_time",
        "message_events",
        ["event_type", "occurred_at"],
        unique=False,
    )
    op.create_index("ix_message_events_user", "message_events", ["user_id"], unique=False)


def _grant() -> None:
    for table in TENANT_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {API}, {ADMIN}")
    for table in ("system_groq_config", "system_settings"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {ADMIN}")
    # Requests stage events (INSERT … RETURNING id); only the worker reads payloads back.
    op.execute(f"GRANT INSERT, SELECT (id) ON config_outbox TO {API}, {ADMIN}")
    op.execute(f"GRANT SELECT, UPDATE, DELETE ON config_outbox TO {WORKER}")
    # Append-only: nobody but the owner may UPDATE or DELETE audit entries.
    op.execute(f"GRANT SELECT, INSERT ON config_audit_log TO {API}, {ADMIN}")
    # ON CONFLICT (event_id) reads the arbiter column, and SQLAlchemy's INSERT returns the
    # new key: those two columns only.
    op.execute(f"GRANT INSERT, SELECT (id, event_id) ON message_events TO {WORKER}")
    op.execute(f"GRANT SELECT ON message_events TO {ADMIN}")


def _policies() -> None:
    rls_tables = (*TENANT_TABLES, "config_audit_log", "message_events")
    for table in rls_tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for table in TENANT_TABLES:
        op.execute(
            f"CREATE POLICY config_tenant_isolation ON {table} FOR ALL TO {API}"
            f" USING (user_id = {CURRENT_TENANT}) WITH CHECK (user_id = {CURRENT_TENANT})"
        )
        op.execute(
            f"CREATE POLICY config_admin_all ON {table} FOR ALL TO {ADMIN}"
            " USING (true) WITH CHECK (true)"
        )
    op.execute(
        f"CREATE POLICY config_tenant_reads_own ON config_audit_log FOR SELECT TO {API}"
        f" USING (user_id = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY config_tenant_writes_own ON config_audit_log FOR INSERT TO {API}"
        f" WITH CHECK (user_id = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY config_admin_all ON config_audit_log FOR ALL TO {ADMIN}"
        " USING (true) WITH CHECK (true)"
    )
    op.execute(
        f"CREATE POLICY config_worker_records ON message_events FOR INSERT TO {WORKER}"
        " WITH CHECK (true)"
    )
    op.execute(
        f"CREATE POLICY config_worker_dedupes ON message_events FOR SELECT TO {WORKER} USING (true)"
    )
    op.execute(
        f"CREATE POLICY config_admin_reads ON message_events FOR SELECT TO {ADMIN} USING (true)"
    )


def upgrade() -> None:
    _create_roles()
    _create_tables()
    _grant()
    _policies()


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS config_tenant_isolation ON {table}")
        op.execute(f"DROP POLICY IF EXISTS config_admin_all ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in (*TENANT_TABLES, "system_groq_config", "system_settings", "config_outbox"):
        op.execute(f"REVOKE ALL ON {table} FROM {API}, {ADMIN}, {WORKER}")
    op.drop_index("ix_message_events_user", table_name="message_events")
    op.drop_index("ix_message_events_type_time", table_name="message_events")
    op.drop_index("ix_message_events_provider_message", table_name="message_events")
    op.drop_index("ix_message_events_message", table_name="message_events")
    op.drop_table("message_events")
    op.drop_index("ix_config_audit_log_user_time", table_name="config_audit_log")
    op.drop_index("ix_config_audit_log_occurred_at", table_name="config_audit_log")
    op.drop_table("config_audit_log")
    op.execute(
        f"""
        DO $$
        BEGIN
            EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {API}, {ADMIN}, {WORKER}',
                           current_schema());
        END
        $$;
        """
    )
    for role in ROLES:
        # Roles are cluster-wide: keep one that another database still grants something to.
        op.execute(
            f"""
            DO $$
            BEGIN
                DROP ROLE IF EXISTS {role};
            EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN
                RAISE NOTICE 'role {role} kept: still used elsewhere';
            END
            $$;
            """
        )
