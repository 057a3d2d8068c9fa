"""The audit log: one row per settings change, written in the change's own transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.tables import config_audit_log
from services.config.domain.changes import Action, Entity


class ActorRole(StrEnum):
    USER = "user"
    ADMIN = "admin"
    SYSTEM = "system"  # an operator command such as rotate-secrets


@dataclass(frozen=True)
class Actor:
    role: ActorRole
    actor_id: uuid.UUID | None
    trace_id: str | None = None


_RECORD = config_audit_log.insert()


class Audit(Protocol):
    async def record(
        self, entity: Entity, action: Action, user_id: uuid.UUID | None, fields: list[str]
    ) -> None: ...


class AuditTrail:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self._session = session
        self._actor = actor

    async def record(
        self, entity: Entity, action: Action, user_id: uuid.UUID | None, fields: list[str]
    ) -> None:
        await self._session.execute(
            _RECORD,
            {
                "user_id": user_id,
                "actor_role": self._actor.role.value,
                "actor_id": self._actor.actor_id,
                "entity": entity.value,
                "action": action.value,
                "changed_fields": fields,
                "trace_id": self._actor.trace_id,
            },
        )


async def audit_entries(
    session: AsyncSession, user_id: uuid.UUID | None, limit: int, offset: int
) -> list[RowMapping]:
    """Newest first. Under config_api, row-level security already limits this to the tenant;
    the filter is stated anyway so the intent reads in the query."""
    table = config_audit_log
    query = select(table).order_by(table.c.occurred_at.desc(), table.c.id.desc())
    if user_id is not None:
        query = query.where(table.c.user_id == user_id)
    result = await session.execute(query.limit(limit).offset(offset))
    return list(result.mappings().all())
