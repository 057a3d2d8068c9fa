"""SQL reads and writes of the settings tables and the per-entity version counters, in
the caller's transaction (and so in its database role)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.tables import (
    config_versions,
    conversation_settings,
    media_settings,
    system_groq_config,
    system_limits,
    system_settings,
    tenant_limits,
    user_groq_config,
    user_twilio_config,
    user_whatsapp_config,
    webhook_api_links,
)
from services.config.domain.change_events import Row
from services.config.domain.changes import Entity

_USER_TABLES = {
    Entity.GROQ: user_groq_config,
    Entity.WHATSAPP: user_whatsapp_config,
    Entity.TWILIO: user_twilio_config,
    Entity.WEBHOOK_LINKS: webhook_api_links,
    Entity.CONVERSATION_SETTINGS: conversation_settings,
    Entity.MEDIA_SETTINGS: media_settings,
    Entity.TENANT_LIMITS: tenant_limits,
}
_SINGLETONS = {
    Entity.SYSTEM_GROQ: system_groq_config,
    Entity.SYSTEM_SETTINGS: system_settings,
    Entity.SYSTEM_LIMITS: system_limits,
}

_bump = insert(config_versions).values(
    entity_key=bindparam("key"), user_id=bindparam("owner"), version=1
)
_NEXT_VERSION = _bump.on_conflict_do_update(
    index_elements=[config_versions.c.entity_key],
    set_={"version": config_versions.c.version + 1},
).returning(config_versions.c.version)


class NumberTaken(Exception):
    """The phone number is active for another user."""


class ConfigStore(Protocol):
    async def get(
        self, entity: Entity, user_id: uuid.UUID | None, *, for_update: bool = False
    ) -> Row | None: ...

    async def upsert(
        self, entity: Entity, user_id: uuid.UUID | None, values: Mapping[str, Any]
    ) -> Row:
        """Raises NumberTaken when a number is already active for another account."""
        ...

    async def delete(self, entity: Entity, user_id: uuid.UUID) -> bool: ...

    async def next_version(self, key: str, owner: uuid.UUID | None) -> int: ...


class SqlConfigStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(
        self, entity: Entity, user_id: uuid.UUID | None, *, for_update: bool = False
    ) -> Row | None:
        table, (key, key_value) = _locate(entity, user_id)
        query = select(table).where(table.c[key] == key_value)
        if for_update:
            query = query.with_for_update()
        return (await self._session.execute(query)).mappings().first()

    async def upsert(
        self, entity: Entity, user_id: uuid.UUID | None, values: Mapping[str, Any]
    ) -> Row:
        table, (key, key_value) = _locate(entity, user_id)
        statement = insert(table).values(**{key: key_value, **values, "updated_at": func.now()})
        upsert = statement.on_conflict_do_update(
            index_elements=[key],
            set_={name: statement.excluded[name] for name in [*values, "updated_at"]},
        ).returning(*table.c)
        try:
            async with self._session.begin_nested():
                return (await self._session.execute(upsert)).mappings().one()
        except IntegrityError as exc:  # only the partial unique indexes on active numbers
            raise NumberTaken from exc

    async def delete(self, entity: Entity, user_id: uuid.UUID) -> bool:
        table, (key, key_value) = _locate(entity, user_id)
        result = await self._session.execute(delete(table).where(table.c[key] == key_value))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def next_version(self, key: str, owner: uuid.UUID | None) -> int:
        """The entity's next version. The counter's row stays locked until the commit, so a
        concurrent writer of the entity waits: versions follow commit order."""
        result = await self._session.execute(_NEXT_VERSION, {"key": key, "owner": owner})
        version: int = result.scalar_one()
        return version


def _locate(entity: Entity, user_id: uuid.UUID | None) -> tuple[Table, tuple[str, Any]]:
    if entity in _SINGLETONS:
        return _SINGLETONS[entity], ("id", 1)
    if user_id is None:
        raise ValueError(f"{entity} belongs to a user")
    return _USER_TABLES[entity], ("user_id", user_id)
