"""One request, one transaction, in the database role the route declares.

Routes ask for `TenantUow` (config_api, row-level security on the caller's user id) or
`AdminUow` (config_admin): which rows a query can see is decided here, once, not by the
WHERE clause each query remembers to write. Staged change events are published right
after the commit; the response carries the change's offset (X-Config-Version).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.audit import Actor, ActorRole, AuditTrail
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.tenancy import admin_session, tenant_session
from services.config.auth import Admin, UserId
from services.config.domain.changes import secrets_equal
from shared.crypto import SecretBox
from shared.logging import get_logger
from shared.outbox import Outbox
from shared.telemetry import current_trace_id

VERSION_HEADER = "X-Config-Version"
log = get_logger(__name__)


class UnitOfWork:
    def __init__(
        self, session: AsyncSession, actor: Actor, request: Request, response: Response
    ) -> None:
        self._session = session
        self._actor = actor
        self._response = response
        state = request.app.state
        self.box: SecretBox = state.secret_box
        self._outbox: Outbox = state.outbox

    @property
    def session(self) -> AsyncSession:
        return self._session

    async def __aenter__(self) -> ConfigRepository:
        await self._session.begin()
        self.repo = ConfigRepository(
            self._session,
            self._outbox,
            AuditTrail(self._session, self._actor),
            secrets_equal(self.box),
        )
        return self.repo

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                await self._session.commit()
            else:
                await self._session.rollback()
        finally:
            await self._session.close()
        if exc_type is None and self.repo.staged:
            try:
                version = await self._outbox.publish(self.repo.staged)
            except Exception as exc:
                # The change is committed and its events are in the outbox: the relay
                # publishes them within seconds. The caller's write did succeed.
                log.warning(
                    "config change committed, publish left to the relay", error=type(exc).__name__
                )
                return
            if version is not None:
                self._response.headers[VERSION_HEADER] = str(version)


async def _tenant_uow(
    request: Request, response: Response, user_id: UserId
) -> AsyncIterator[UnitOfWork]:
    session = tenant_session(request.app.state.engine, user_id)
    actor = Actor(ActorRole.USER, user_id, current_trace_id())
    try:
        yield UnitOfWork(session, actor, request, response)
    finally:
        await session.close()


async def _admin_uow(
    request: Request, response: Response, admin: Admin
) -> AsyncIterator[UnitOfWork]:
    session = admin_session(request.app.state.engine)
    actor = Actor(ActorRole.ADMIN, admin.user_id, current_trace_id())
    try:
        yield UnitOfWork(session, actor, request, response)
    finally:
        await session.close()


TenantUow = Annotated[UnitOfWork, Depends(_tenant_uow)]
AdminUow = Annotated[UnitOfWork, Depends(_admin_uow)]
