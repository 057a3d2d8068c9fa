"""SQL of a tenant's key pool (groq_pool_keys, groq_pool_settings), in the caller's
transaction and database role; `stage_pool` stages the pool's current state as an event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.key_tables import groq_pool_keys, groq_pool_settings
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.tables import user_groq_config
from services.config.domain.changes import Action, Entity
from services.config.domain.key_pool import model_status_for, pool_changed
from shared.groq_models import DEFAULT_CHAT_MODEL

_keys = groq_pool_keys
_settings = groq_pool_settings


class KeyPoolStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def keys(self, user_id: uuid.UUID, *, for_update: bool = False) -> list[RowMapping]:
        query = (
            select(_keys)
            .where(_keys.c.user_id == user_id)
            .order_by(_keys.c.priority, _keys.c.created_at, _keys.c.key_id)
        )
        if for_update:
            query = query.with_for_update()
        return list((await self._session.execute(query)).mappings().all())

    async def key(self, user_id: uuid.UUID, key_id: uuid.UUID) -> RowMapping | None:
        query = select(_keys).where(_keys.c.user_id == user_id, _keys.c.key_id == key_id)
        return (await self._session.execute(query.with_for_update())).mappings().first()

    async def key_readonly(self, user_id: uuid.UUID, key_id: uuid.UUID) -> RowMapping | None:
        query = select(_keys).where(_keys.c.user_id == user_id, _keys.c.key_id == key_id)
        return (await self._session.execute(query)).mappings().first()

    async def add(self, user_id: uuid.UUID, values: Mapping[str, Any]) -> RowMapping:
        statement = (
            insert(_keys).values(key_id=uuid.uuid4(), user_id=user_id, **values).returning(*_keys.c)
        )
        return (await self._session.execute(statement)).mappings().one()

    async def change(self, key_id: uuid.UUID, values: Mapping[str, Any]) -> RowMapping | None:
        statement = (
            update(_keys)
            .where(_keys.c.key_id == key_id)
            .values(**values, updated_at=func.now())
            .returning(*_keys.c)
        )
        return (await self._session.execute(statement)).mappings().first()

    async def remove(self, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(_keys).where(_keys.c.user_id == user_id, _keys.c.key_id == key_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def settings(self, user_id: uuid.UUID) -> RowMapping | None:
        query = select(_settings).where(_settings.c.user_id == user_id)
        return (await self._session.execute(query)).mappings().first()

    async def put_settings(self, user_id: uuid.UUID, values: Mapping[str, Any]) -> RowMapping:
        statement = insert(_settings).values(user_id=user_id, **values, updated_at=func.now())
        upsert = statement.on_conflict_do_update(
            index_elements=[_settings.c.user_id],
            set_={name: statement.excluded[name] for name in [*values, "updated_at"]},
        ).returning(*_settings.c)
        return (await self._session.execute(upsert)).mappings().one()

    async def change_settings(
        self, repo: ConfigRepository, user_id: uuid.UUID, values: Mapping[str, Any]
    ) -> None:
        """Upsert the pool's settings (fallback, cheaper model), audit what changed, stage
        the pool and bring the model status up to date (its text names the fallback)."""
        old = await self.settings(user_id)
        fields = sorted(k for k, v in values.items() if (old[k] if old else None) != v)
        await self.put_settings(user_id, values)
        action = Action.CREATED if old is None else Action.UPDATED
        await repo.audit.record(Entity.GROQ_KEY_POOL, action, user_id, fields)
        await self.stage_pool(repo, user_id)
        await self.model_chosen(repo, user_id, await self.tenant_model(user_id))

    async def model_chosen(self, repo: ConfigRepository, user_id: uuid.UUID, model: str) -> None:
        """The model status once `model` is the tenant's model (model_status_for): a model
        changed away from a retired one clears the warning. Audited when it changes; no
        event (the status is the config service's own, shown by its API)."""
        settings = await self.settings(user_id)
        if settings is None:
            return
        status = model_status_for(model, settings)
        if status != settings["model_status"]:
            await self.put_settings(user_id, {"model_status": status})
            await repo.audit.record(Entity.GROQ_KEY_POOL, Action.UPDATED, user_id, ["model_status"])

    async def tenant_model(self, user_id: uuid.UUID) -> str:
        """The model the tenant's messages ask for (its groq-config, else the default)."""
        query = select(user_groq_config.c.model).where(user_groq_config.c.user_id == user_id)
        model = (await self._session.execute(query)).scalar_one_or_none()
        return model or DEFAULT_CHAT_MODEL

    async def stage_pool(self, repo: ConfigRepository, user_id: uuid.UUID) -> None:
        """Stage the pool's current state (with its next version) in the caller's unit."""
        await repo.stage(
            pool_changed(user_id, await self.keys(user_id), await self.settings(user_id))
        )

    async def tenants_with_keys(self) -> Sequence[uuid.UUID]:
        query = select(_keys.c.user_id).distinct()
        return list((await self._session.execute(query)).scalars().all())
