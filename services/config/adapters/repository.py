"""Reads and writes of the config tables; every write stages its change event in the outbox
and its audit entry, in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters import events
from services.config.adapters.audit import AuditTrail
from services.config.adapters.tables import (
    config_versions,
    system_groq_config,
    system_settings,
    user_groq_config,
    user_twilio_config,
    user_whatsapp_config,
    webhook_api_links,
)
from services.config.domain.changes import Action, Entity, SecretsEqual, changed_fields
from shared.contracts.config_events import config_event_key
from shared.contracts.topics import CONFIG_CHANGES
from shared.outbox import Outbox, StagedEvent

_USER_TABLES = {
    Entity.GROQ: user_groq_config,
    Entity.WHATSAPP: user_whatsapp_config,
    Entity.TWILIO: user_twilio_config,
    Entity.WEBHOOK_LINKS: webhook_api_links,
}
_SINGLETONS = {Entity.SYSTEM_GROQ: system_groq_config, Entity.SYSTEM_SETTINGS: system_settings}


class NumberTaken(Exception):
    """The phone number is active for another user."""


class ConfigRepository:
    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        audit: AuditTrail,
        secrets_equal: SecretsEqual,
    ) -> None:
        self._session = session
        self._outbox = outbox
        self._audit = audit
        self._secrets_equal = secrets_equal
        self.staged: list[StagedEvent] = []

    async def stage(self, event: events.ConfigChange) -> None:
        """Stage the event with its entity's next version. The counter's row lock, held to
        the commit, makes a concurrent writer of the entity wait: versions (and the outbox
        ids drawn after them) follow commit order, whatever order the publishes finish in."""
        key = config_event_key(event)
        versioned = event.model_copy(update={"version": await self._next_version(key, event)})
        self.staged.append(
            await self._outbox.add(self._session, CONFIG_CHANGES.name, key, versioned)
        )

    async def _next_version(self, key: str, event: events.ConfigChange) -> int:
        owner = getattr(event, "user_id", None)
        statement = insert(config_versions).values(entity_key=key, user_id=owner, version=1)
        bump = statement.on_conflict_do_update(
            index_elements=[config_versions.c.entity_key],
            set_={"version": config_versions.c.version + 1},
        ).returning(config_versions.c.version)
        version: int = (await self._session.execute(bump)).scalar_one()
        return version

    # generic ---------------------------------------------------------------------------------
    async def get(self, entity: Entity, user_id: uuid.UUID | None) -> RowMapping | None:
        table, where = self._locate(entity, user_id)
        query = select(table).where(table.c[where[0]] == where[1])
        return (await self._session.execute(query)).mappings().first()

    async def put(
        self, entity: Entity, user_id: uuid.UUID | None, values: dict[str, Any]
    ) -> RowMapping:
        """Upsert, audit the changed field names, stage the entity's new state."""
        table, (key, key_value) = self._locate(entity, user_id)
        old = (
            (
                await self._session.execute(
                    select(table).where(table.c[key] == key_value).with_for_update()
                )
            )
            .mappings()
            .first()
        )
        statement = insert(table).values(**{key: key_value, **values, "updated_at": func.now()})
        upsert = statement.on_conflict_do_update(
            index_elements=[key],
            set_={name: statement.excluded[name] for name in [*values, "updated_at"]},
        ).returning(*table.c)
        try:
            async with self._session.begin_nested():
                row = (await self._session.execute(upsert)).mappings().one()
        except IntegrityError as exc:  # only the partial unique indexes on active numbers
            raise NumberTaken from exc
        fields = changed_fields(old, values, self._secrets_equal)
        action = Action.CREATED if old is None else Action.UPDATED
        await self._audit.record(entity, action, user_id, fields)
        await self.stage(event_for(entity, user_id, row))
        return row

    async def delete(self, entity: Entity, user_id: uuid.UUID) -> bool:
        table, (key, key_value) = self._locate(entity, user_id)
        result = await self._session.execute(delete(table).where(table.c[key] == key_value))
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self._audit.record(entity, Action.DELETED, user_id, [])
        await self.stage(event_for(entity, user_id, None))
        return True

    @staticmethod
    def _locate(entity: Entity, user_id: uuid.UUID | None) -> tuple[Table, tuple[str, Any]]:
        if entity in _SINGLETONS:
            return _SINGLETONS[entity], ("id", 1)
        if user_id is None:
            raise ValueError(f"{entity} belongs to a user")
        return _USER_TABLES[entity], ("user_id", user_id)


def event_for(
    entity: Entity, user_id: uuid.UUID | None, row: RowMapping | None
) -> events.ConfigChange:
    if entity is Entity.SYSTEM_GROQ:
        return events.groq_changed(None, row)
    if entity is Entity.SYSTEM_SETTINGS and row is not None:
        return events.settings_changed(row)
    if user_id is None:
        raise ValueError(f"{entity} needs a user")
    if entity is Entity.GROQ:
        return events.groq_changed(user_id, row)
    if entity is Entity.WHATSAPP:
        return events.whatsapp_changed(user_id, row)
    if entity is Entity.TWILIO:
        return events.twilio_changed(user_id, row)
    if entity is Entity.WEBHOOK_LINKS and row is not None:
        return events.links_changed(user_id, row)
    raise ValueError(f"no event for {entity} without a row")
