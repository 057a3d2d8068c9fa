"""Limits and budgets (issue 16; contract: docs/config-api.md): the administrator sets the
system default and each tenant's limits, a tenant reads the ones that apply to it. A write
publishes TenantLimitsChanged on config.changes.v1 (the responder applies it from the config
feed within a second) and leaves an audit entry naming the changed fields."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, status

from services.config.api import errors
from services.config.api.auth import Admin, UserId
from services.config.api.conversation_schemas import LimitsIn, LimitsOut
from services.config.api.uow import AdminUow, TenantUow, UnitOfWork
from services.config.domain.change_events import LIMIT_FIELDS, Row
from services.config.domain.changes import Entity

router = APIRouter(prefix="/v1", responses=errors.AUTH)
TenantId = Annotated[uuid.UUID, Path(description="The tenant's user id")]


def _out(row: Row | None, applies: str) -> LimitsOut:
    if row is None:  # never set: no limit
        return LimitsOut(**LimitsIn().model_dump(), applies=applies, updated_at=None)
    values = {name: row[name] for name in LIMIT_FIELDS}
    return LimitsOut(**values, applies=applies, updated_at=row["updated_at"])


async def _get(uow: UnitOfWork, entity: Entity, user_id: uuid.UUID | None) -> Row | None:
    async with uow.repository() as repo:
        return await repo.get(entity, user_id)


async def _put(uow: UnitOfWork, entity: Entity, user_id: uuid.UUID | None, body: LimitsIn) -> Row:
    async with uow.repository() as repo:
        return await repo.put(entity, user_id, body.model_dump(include=set(LIMIT_FIELDS)))


@router.get("/admin/limits", response_model=LimitsOut)
async def get_system_limits(_: Admin, uow: AdminUow) -> LimitsOut:
    """The system default: the limits of every tenant without its own."""
    return _out(await _get(uow, Entity.SYSTEM_LIMITS, None), "system")


@router.put("/admin/limits", response_model=LimitsOut, responses=errors.BAD_BODY)
async def put_system_limits(body: LimitsIn, _: Admin, uow: AdminUow) -> LimitsOut:
    """Replace the system default (fields left out: no limit / their defaults)."""
    return _out(await _put(uow, Entity.SYSTEM_LIMITS, None, body), "system")


@router.get("/admin/tenants/{user_id}/limits", response_model=LimitsOut)
async def get_tenant_limits(user_id: TenantId, _: Admin, uow: AdminUow) -> LimitsOut:
    """The tenant's own limits, else the system default (`applies` says which)."""
    return await _applying(uow, user_id)


@router.put("/admin/tenants/{user_id}/limits", response_model=LimitsOut, responses=errors.BAD_BODY)
async def put_tenant_limits(
    user_id: TenantId, body: LimitsIn, _: Admin, uow: AdminUow
) -> LimitsOut:
    """Replace the tenant's own limits (they replace the system default as a whole)."""
    return _out(await _put(uow, Entity.TENANT_LIMITS, user_id, body), "tenant")


@router.delete(
    "/admin/tenants/{user_id}/limits",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors.NOT_FOUND,
)
async def delete_tenant_limits(user_id: TenantId, _: Admin, uow: AdminUow) -> None:
    """Remove the tenant's own limits: the system default applies again (publishes
    TenantLimitsChanged with `inherits: true`)."""
    async with uow.repository() as repo:
        if not await repo.delete(Entity.TENANT_LIMITS, user_id):
            raise errors.not_configured("limits of its own")


@router.get("/me/limits", response_model=LimitsOut)
async def get_my_limits(user_id: UserId, uow: TenantUow) -> LimitsOut:
    """What applies to the caller: its own limits, else the system default. Read-only."""
    return await _applying(uow, user_id)


async def _applying(uow: UnitOfWork, user_id: uuid.UUID) -> LimitsOut:
    async with uow.repository() as repo:
        own = await repo.get(Entity.TENANT_LIMITS, user_id)
        system = None if own is not None else await repo.get(Entity.SYSTEM_LIMITS, None)
    return _out(own, "tenant") if own is not None else _out(system, "system")
