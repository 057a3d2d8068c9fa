"""The tenant's Groq key pool (issue 16): `/v1/me/groq-keys` CRUD, the models a key can use,
and the pool's fallback and cheaper model. A key is checked with Groq before it is stored:
refused → 422 and nothing stored; Groq unreachable → stored "unchecked"."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import func
from sqlalchemy.engine import RowMapping

from services.config.adapters.groq_models import check_key
from services.config.adapters.key_pool_store import KeyPoolStore
from services.config.api import errors
from services.config.api.auth import UserId
from services.config.api.deps import Deps
from services.config.api.key_schemas import (
    GroqKeyIn,
    GroqKeyOut,
    GroqKeyPatch,
    GroqKeyPoolOut,
    GroqModelsOut,
    GroqPoolSettingsIn,
)
from services.config.api.uow import KeyPoolUnit, TenantUow
from services.config.domain.changes import Action, Entity
from services.config.domain.key_pool import MAX_KEYS, CheckOutcome, KeyCheck
from shared.crypto import hint

router = APIRouter(prefix="/v1/me", tags=["groq keys"], responses=errors.AUTH)
_REFUSED: errors.Responses = {
    422: {"description": "Groq refused the key, the key cannot use your model, or bad input"}
}
_KEY_NOT_FOUND: errors.Responses = {404: {"model": errors.ErrorOut, "description": "No such key"}}


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def _key_out(row: RowMapping) -> GroqKeyOut:
    return GroqKeyOut(**{name: row[name] for name in GroqKeyOut.model_fields})


async def _pool_out(store: KeyPoolStore, user_id: uuid.UUID) -> GroqKeyPoolOut:
    settings = await store.settings(user_id)
    return GroqKeyPoolOut(
        keys=[_key_out(row) for row in await store.keys(user_id)],
        model=await store.tenant_model(user_id),
        fallback_model=settings["fallback_model"] if settings else None,
        cheaper_model=settings["cheaper_model"] if settings else None,
        unavailable_models=list(settings["unavailable_models"]) if settings else [],
        model_status=settings["model_status"] if settings else "",
    )


async def _checked(deps: Deps, api_key: str) -> KeyCheck:
    settings = deps.settings
    check = await check_key(settings.groq_base_url, api_key, settings.groq_check_timeout_s)
    if check.outcome is CheckOutcome.REFUSED:
        raise _unprocessable(
            f"Groq refused this key ({check.status}): check it at console.groq.com/keys; "
            "nothing was stored"
        )
    return check


async def _usable(pool: KeyPoolUnit, user_id: uuid.UUID, check: KeyCheck) -> None:
    model = await pool.store.tenant_model(user_id)
    if check.lacks(model):
        usable = ", ".join(check.models) or "none"
        raise _unprocessable(
            f"this key cannot use the model {model}; it can use: {usable}; nothing was stored"
        )


def _check_values(check: KeyCheck) -> dict[str, Any]:
    values: dict[str, Any] = {"status": check.key_status().value, "status_detail": check.detail}
    if check.outcome is not CheckOutcome.UNREACHABLE:
        values["checked_at"] = func.now()
    return values


@router.get("/groq-keys", response_model=GroqKeyPoolOut)
async def list_keys(user_id: UserId, uow: TenantUow) -> GroqKeyPoolOut:
    async with uow.key_pool() as pool:
        return await _pool_out(pool.store, user_id)


@router.post(
    "/groq-keys",
    response_model=GroqKeyOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_REFUSED, **errors.BAD_BODY},
)
async def add_key(body: GroqKeyIn, user_id: UserId, uow: TenantUow, deps: Deps) -> GroqKeyOut:
    check = await _checked(deps, body.api_key)
    async with uow.key_pool() as pool:
        await _usable(pool, user_id, check)
        if len(await pool.store.keys(user_id, for_update=True)) >= MAX_KEYS:
            raise _unprocessable(f"a pool holds at most {MAX_KEYS} keys")
        row = await pool.store.add(
            user_id,
            {
                "label": body.label,
                "organization": body.organization,
                "priority": body.priority,
                "enabled": body.enabled,
                "api_key_encrypted": uow.box.encrypt(body.api_key),
                "api_key_hint": hint(body.api_key),
                **_check_values(check),
            },
        )
        fields = ["api_key", "enabled", "label", "priority"]
        if body.organization:
            fields.append("organization")
        await pool.repo.audit.record(Entity.GROQ_KEY, Action.CREATED, user_id, sorted(fields))
        await pool.store.stage_pool(pool.repo, user_id)
    return _key_out(row)


@router.patch(
    "/groq-keys/{key_id}",
    response_model=GroqKeyOut,
    responses={**_REFUSED, **_KEY_NOT_FOUND, **errors.BAD_BODY},
)
async def change_key(
    key_id: uuid.UUID, body: GroqKeyPatch, user_id: UserId, uow: TenantUow, deps: Deps
) -> GroqKeyOut:
    values: dict[str, Any] = {
        name: value
        for name, value in body.model_dump(exclude_unset=True, exclude={"api_key"}).items()
        if value is not None or name == "organization"  # null: "no organization"; else unchanged
    }
    check = await _checked(deps, body.api_key) if body.api_key else None
    async with uow.key_pool() as pool:
        old = await pool.store.key(user_id, key_id)
        if old is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such Groq key")
        fields = sorted(name for name, value in values.items() if old[name] != value)
        if body.api_key and check is not None:
            await _usable(pool, user_id, check)
            values["api_key_encrypted"] = uow.box.encrypt(body.api_key)
            values["api_key_hint"] = hint(body.api_key)
            values.update(_check_values(check))
            fields = sorted([*fields, "api_key"])
        row = await pool.store.change(key_id, values) if values else old
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such Groq key")
        if fields:
            await pool.repo.audit.record(Entity.GROQ_KEY, Action.UPDATED, user_id, fields)
            await pool.store.stage_pool(pool.repo, user_id)
    return _key_out(row)


@router.delete(
    "/groq-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_KEY_NOT_FOUND
)
async def delete_key(key_id: uuid.UUID, user_id: UserId, uow: TenantUow) -> None:
    async with uow.key_pool() as pool:
        if not await pool.store.remove(user_id, key_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such Groq key")
        await pool.repo.audit.record(Entity.GROQ_KEY, Action.DELETED, user_id, [])
        await pool.store.stage_pool(pool.repo, user_id)


@router.get(
    "/groq-keys/{key_id}/models",
    response_model=GroqModelsOut,
    responses={
        **_KEY_NOT_FOUND,
        422: {"description": "Groq refused the key"},
        503: {"model": errors.ErrorOut, "description": "Groq did not answer; try again"},
    },
)
async def key_models(
    key_id: uuid.UUID, user_id: UserId, uow: TenantUow, deps: Deps
) -> GroqModelsOut:
    async with uow.session() as session:
        row = await KeyPoolStore(session).key_readonly(user_id, key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such Groq key")
    settings = deps.settings
    api_key = uow.box.decrypt(row["api_key_encrypted"])
    check = await check_key(settings.groq_base_url, api_key, settings.groq_check_timeout_s)
    if check.outcome is CheckOutcome.REFUSED:
        raise _unprocessable(f"Groq refused this key ({check.status})")
    if check.outcome is CheckOutcome.UNREACHABLE:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="Groq did not answer; try again later"
        )
    return GroqModelsOut(key_id=key_id, models=list(check.models))


@router.put("/groq-pool-settings", response_model=GroqKeyPoolOut, responses=errors.BAD_BODY)
async def put_pool_settings(
    body: GroqPoolSettingsIn, user_id: UserId, uow: TenantUow
) -> GroqKeyPoolOut:
    async with uow.key_pool() as pool:
        await pool.store.change_settings(pool.repo, user_id, body.model_dump())
        return await _pool_out(pool.store, user_id)
