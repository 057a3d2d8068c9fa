"""One request, one transaction, in the database role the route declares.

Routes ask for `TenantUow` (config_api, row-level security on the caller's user id) or
`AdminUow` (config_admin): which rows a query can see is decided here, once, not by the
WHERE clause each query remembers to write. Settings go through `repository()`, an outbox
unit: its change events commit with the rows and are published before the block returns;
the answer then carries the change's offset (X-Config-Version).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.audit import Actor, ActorRole
from services.config.adapters.conversations_store import ConversationDirectory
from services.config.adapters.key_pool_store import KeyPoolStore
from services.config.adapters.owner_changes import OwnerChanges
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.tenancy import DbRole, Tenancy
from services.config.api.auth import Admin, UserId
from services.config.api.deps import ApiDeps, Deps
from services.config.domain.changes import secrets_equal
from shared.crypto import SecretBox
from shared.telemetry import current_trace_id

VERSION_HEADER = "X-Config-Version"


@dataclass(frozen=True)
class KeyPoolUnit:
    store: KeyPoolStore
    repo: ConfigRepository


class UnitOfWork:
    def __init__(self, deps: ApiDeps, tenancy: Tenancy, actor: Actor, response: Response) -> None:
        self._deps = deps
        self._tenancy = tenancy
        self._actor = actor
        self._response = response

    @property
    def box(self) -> SecretBox:
        return self._deps.box

    @asynccontextmanager
    async def repository(self) -> AsyncIterator[ConfigRepository]:
        """Settings reads and writes; what a write staged is published on a clean exit."""
        outbox = self._deps.outbox
        async with outbox.unit(on_begin=self._tenancy.begin) as unit:
            deps = self._deps
            yield ConfigRepository(
                deps.stores(unit.session),
                deps.audits(unit.session, self._actor),
                unit,
                secrets_equal(self.box),
                session=unit.session,
            )
        if unit.offset is not None:  # None: committed, the relay publishes it within seconds
            self._response.headers[VERSION_HEADER] = str(unit.offset)

    @asynccontextmanager
    async def owner_changes(self) -> AsyncIterator[OwnerChanges]:
        """Owner changes (conversations.owner.v1), in an outbox unit like settings writes."""
        actor_id = self._actor.actor_id
        if actor_id is None:
            raise RuntimeError("an owner change needs a caller")
        async with self._deps.outbox.unit(on_begin=self._tenancy.begin) as unit:
            deps = self._deps
            yield OwnerChanges(
                deps.stores(unit.session),
                deps.conversations(unit.session),
                deps.audits(unit.session, self._actor),
                unit,
                actor_id,
            )

    @asynccontextmanager
    async def conversations(self) -> AsyncIterator[ConversationDirectory]:
        """The tenant's conversations, read-only."""
        async with self.session() as session:
            yield self._deps.conversations(session)

    @asynccontextmanager
    async def key_pool(self) -> AsyncIterator[KeyPoolUnit]:
        """The key pool's reads and writes (issue 16), in an outbox unit like `repository`."""
        async with self.repository() as repo:
            session = repo.session
            yield KeyPoolUnit(self._deps.key_pools(session), repo)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (monitoring, the audit log)."""
        async with self._tenancy.session(self._deps.engine) as session, session.begin():
            yield session


def tenant_uow(deps: Deps, response: Response, user_id: UserId) -> UnitOfWork:
    actor = Actor(ActorRole.USER, user_id, current_trace_id())
    return UnitOfWork(deps, Tenancy(DbRole.API, user_id), actor, response)


def admin_uow(deps: Deps, response: Response, admin: Admin) -> UnitOfWork:
    actor = Actor(ActorRole.ADMIN, admin.user_id, current_trace_id())
    return UnitOfWork(deps, Tenancy(DbRole.ADMIN), actor, response)


TenantUow = Annotated[UnitOfWork, Depends(tenant_uow)]
AdminUow = Annotated[UnitOfWork, Depends(admin_uow)]
