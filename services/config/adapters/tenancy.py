"""Which database role a transaction runs as, and for which tenant (migration 0003).

The service connects as the DATABASE_URL role (the schema owner), which FORCE ROW LEVEL
SECURITY leaves without any tenant row. Every transaction therefore starts by choosing a
role with `set_config('role', …, true)` (SET LOCAL ROLE), and tenant transactions also set
`app.user_id`: both last until the transaction ends, so a pooled connection never carries
one request's tenant into the next.

A write path runs in an outbox unit (`shared.outbox.Outbox.unit`), whose session comes from
the worker's factory: `Tenancy.begin`, its `on_begin`, switches that transaction to the
request's role before its first statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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
def _switch_role(session: Session, transaction: SessionTransaction, connection: Any) -> None:
    if transaction.nested:
        return  # a savepoint: the enclosing transaction already chose the role
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


@dataclass(frozen=True)
class Tenancy:
    """The role (and tenant) a request's transactions run as."""

    role: DbRole
    tenant: uuid.UUID | None = None

    def session(self, engine: AsyncEngine) -> AsyncSession:
        if self.tenant is not None:
            return tenant_session(engine, self.tenant)
        return AsyncSession(
            engine,
            expire_on_commit=False,
            sync_session_class=RoleSession,
            info={"db_role": self.role.value},
        )

    async def begin(self, session: AsyncSession) -> None:
        """An `on_begin` hook for a RoleSession transaction that has run nothing yet: its
        connection is bound at the first statement, and `_switch_role` then reads these."""
        session.info["db_role"] = self.role.value
        if self.tenant is None:
            session.info.pop("tenant", None)
        else:
            session.info["tenant"] = self.tenant
