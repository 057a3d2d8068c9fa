"""Which database role a transaction runs as, and for which tenant (migration 0003).

The service connects as the DATABASE_URL role (the schema owner), which FORCE ROW LEVEL
SECURITY leaves without any tenant row. Every transaction therefore starts by choosing a
role with `set_config('role', …, true)` (SET LOCAL ROLE), and tenant transactions also set
`app.user_id`: both last until the transaction ends, so a pooled connection never carries
one request's tenant into the next.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

TENANT_SETTING = "app.user_id"


class DbRole(StrEnum):
    API = "config_api"  # tenant requests: RLS on app.user_id
    ADMIN = "config_admin"  # administrator requests and rotate-secrets: explicit policies
    WORKER = "config_worker"  # outbox relay, message-event projection


_SET_ROLE = text("select set_config('role', :role, true)")
_SET_TENANT = text(
    "select set_config('role', :role, true), set_config('app.user_id', :user_id, true)"
)


class RoleSession(Session):
    """A Session whose every transaction first switches to `info["db_role"]`."""


@event.listens_for(RoleSession, "after_begin")
def _switch_role(session: Session, _: SessionTransaction, connection: Any) -> None:
    role = session.info.get("db_role")
    if role is None:
        raise RuntimeError("a config session was opened without a database role")
    tenant = session.info.get("tenant")
    if tenant is None:
        connection.execute(_SET_ROLE, {"role": role})
    else:
        connection.execute(_SET_TENANT, {"role": role, "user_id": str(tenant)})


def role_sessions(engine: AsyncEngine, role: DbRole) -> async_sessionmaker[AsyncSession]:
    """Sessions for a fixed role without a tenant (admin, worker)."""
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        sync_session_class=RoleSession,
        info={"db_role": role.value},
    )


def tenant_session(engine: AsyncEngine, user_id: uuid.UUID) -> AsyncSession:
    """A session in which every transaction runs as config_api for this one tenant."""
    return AsyncSession(
        engine,
        expire_on_commit=False,
        sync_session_class=RoleSession,
        info={"db_role": DbRole.API.value, "tenant": user_id},
    )


def admin_session(engine: AsyncEngine) -> AsyncSession:
    return AsyncSession(
        engine,
        expire_on_commit=False,
        sync_session_class=RoleSession,
        info={"db_role": DbRole.ADMIN.value},
    )
