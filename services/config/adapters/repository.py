"""A settings change as one piece: the row written, its audit entry (changed field names),
the entity's next version and its change event staged in the caller's outbox unit, all in
one transaction. Storage, audit and staging are protocols: a test hands in fakes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.audit import Audit
from services.config.adapters.config_store import ConfigStore
from services.config.domain.change_events import ConfigChange, Row, event_for
from services.config.domain.changes import Action, Entity, SecretsEqual, changed_fields
from shared.contracts.config_events import config_event_key
from shared.contracts.topics import CONFIG_CHANGES


class Stager(Protocol):
    """Where events go to be published after the commit (`shared.outbox.OutboxUnit`)."""

    def stage(
        self, topic: str, key: str, event: BaseModel, carrier: dict[str, str] | None = None
    ) -> None: ...


class ConfigRepository:
    def __init__(
        self,
        store: ConfigStore,
        audit: Audit,
        unit: Stager,
        secrets_equal: SecretsEqual,
        session: AsyncSession | None = None,
    ) -> None:
        self._session = session
        self._store = store
        self._audit = audit
        self._unit = unit
        self._secrets_equal = secrets_equal

    @property
    def session(self) -> AsyncSession:
        """The unit's transaction, for writes of tables beside the settings (the key pool)."""
        if self._session is None:
            raise RuntimeError("this repository was built without its session")
        return self._session

    @property
    def audit(self) -> Audit:
        return self._audit

    async def get(self, entity: Entity, user_id: uuid.UUID | None) -> Row | None:
        return await self._store.get(entity, user_id)

    async def put(
        self, entity: Entity, user_id: uuid.UUID | None, values: Mapping[str, Any]
    ) -> Row:
        """Upsert, audit the changed field names, stage the entity's new state."""
        old = await self._store.get(entity, user_id, for_update=True)
        row = await self._store.upsert(entity, user_id, values)
        fields = changed_fields(old, values, self._secrets_equal)
        action = Action.CREATED if old is None else Action.UPDATED
        await self._audit.record(entity, action, user_id, fields)
        await self.stage(event_for(entity, user_id, row))
        return row

    async def delete(self, entity: Entity, user_id: uuid.UUID) -> bool:
        if not await self._store.delete(entity, user_id):
            return False
        await self._audit.record(entity, Action.DELETED, user_id, [])
        await self.stage(event_for(entity, user_id, None))
        return True

    async def stage(self, event: ConfigChange) -> None:
        """Stage the event with its entity's next version. The unit writes its outbox rows
        later in the same transaction, still under the version's row lock: outbox ids of
        one entity follow its versions (adapters/compaction.py relies on it)."""
        key = config_event_key(event)
        version = await self._store.next_version(key, getattr(event, "user_id", None))
        self._unit.stage(CONFIG_CHANGES.name, key, event.model_copy(update={"version": version}))
