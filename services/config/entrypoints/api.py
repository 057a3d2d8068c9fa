"""The settings API (contract: config section). Thin: validate, write via the repository in
the route's database role, answer without secrets (hints only)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from fastapi import APIRouter, status
from pydantic import BaseModel

from services.config.adapters.config_store import NumberTaken
from services.config.api import errors
from services.config.api.auth import Admin, UserId
from services.config.api.schemas import (
    GroqConfigIn,
    GroqConfigOut,
    GroqConfigPatch,
    SystemSettingsIn,
    SystemSettingsOut,
    TwilioConfigIn,
    TwilioConfigOut,
    WebhookLinksIn,
    WebhookLinksOut,
    WhatsAppConfigIn,
    WhatsAppConfigOut,
)
from services.config.api.uow import AdminUow, TenantUow, UnitOfWork
from services.config.domain.change_events import Row
from services.config.domain.changes import Entity
from shared.crypto import hint

router = APIRouter(prefix="/v1", responses=errors.AUTH)
_NOT_FOUND = errors.NOT_FOUND
_CONFLICT = errors.NUMBER_TAKEN
_BODY = errors.BAD_BODY
OutT = TypeVar("OutT", bound=BaseModel)


async def _read(uow: UnitOfWork, entity: Entity, user_id: uuid.UUID | None) -> Row | None:
    async with uow.repository() as repo:
        return await repo.get(entity, user_id)


async def _write(
    uow: UnitOfWork, entity: Entity, user_id: uuid.UUID | None, values: dict[str, Any]
) -> Row:
    try:
        async with uow.repository() as repo:
            return await repo.put(entity, user_id, values)
    except NumberTaken as exc:
        raise errors.number_taken() from exc


async def _delete(uow: UnitOfWork, entity: Entity, user_id: uuid.UUID, what: str) -> None:
    async with uow.repository() as repo:
        if not await repo.delete(entity, user_id):
            raise errors.not_configured(what)


def _out(model: type[OutT], row: Row | None, what: str) -> OutT:
    """The stored row as the answer: the model's fields, by column name (hints, no secrets)."""
    if row is None:
        raise errors.not_configured(what)
    return model(**{name: row[name] for name in model.model_fields})


# Groq --------------------------------------------------------------------------------------
def _groq_out(row: Row | None) -> GroqConfigOut:
    return _out(GroqConfigOut, row, "Groq configuration")


_GROQ_COLUMNS = ("api_key_encrypted", "api_key_hint", "model", "temperature")


def _groq_values(uow: UnitOfWork, body: GroqConfigIn) -> dict[str, Any]:
    return {
        "api_key_encrypted": uow.box.encrypt(body.api_key),
        "api_key_hint": hint(body.api_key),
        "model": body.model,
        "temperature": body.temperature,
    }


@router.get("/me/groq-config", response_model=GroqConfigOut, responses=_NOT_FOUND)
async def get_my_groq(user_id: UserId, uow: TenantUow) -> GroqConfigOut:
    return _groq_out(await _read(uow, Entity.GROQ, user_id))


@router.put("/me/groq-config", response_model=GroqConfigOut, responses=_BODY)
async def put_my_groq(body: GroqConfigIn, user_id: UserId, uow: TenantUow) -> GroqConfigOut:
    async with uow.key_pool() as pool:
        row = await pool.repo.put(Entity.GROQ, user_id, _groq_values(uow, body))
        await pool.store.model_chosen(pool.repo, user_id, row["model"])  # issue 16
    return _groq_out(row)


@router.patch("/me/groq-config", response_model=GroqConfigOut, responses={**_NOT_FOUND, **_BODY})
async def patch_my_groq(body: GroqConfigPatch, user_id: UserId, uow: TenantUow) -> GroqConfigOut:
    """Change only what the body names (the key need not be typed again); the fallback and
    cheaper model are the key pool's settings (`/v1/me/groq-pool-settings`)."""
    given = body.model_fields_set
    async with uow.key_pool() as pool:
        row = await pool.repo.get(Entity.GROQ, user_id)
        if row is None:
            raise errors.not_configured("Groq configuration")
        if given & {"api_key", "model", "temperature"}:
            values = {name: row[name] for name in _GROQ_COLUMNS}
            if body.api_key is not None:
                values["api_key_encrypted"] = uow.box.encrypt(body.api_key)
                values["api_key_hint"] = hint(body.api_key)
            if body.model is not None:
                values["model"] = body.model
            if body.temperature is not None:
                values["temperature"] = body.temperature
            row = await pool.repo.put(Entity.GROQ, user_id, values)
        pool_values = body.model_dump(include={"fallback_model", "cheaper_model"} & given)
        if pool_values:  # also brings the model status up to date
            await pool.store.change_settings(pool.repo, user_id, pool_values)
        else:
            await pool.store.model_chosen(pool.repo, user_id, row["model"])
    return _groq_out(row)


@router.delete("/me/groq-config", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_my_groq(user_id: UserId, uow: TenantUow) -> None:
    await _delete(uow, Entity.GROQ, user_id, "Groq configuration")


# WhatsApp ----------------------------------------------------------------------------------
def _whatsapp_out(row: Row | None) -> WhatsAppConfigOut:
    if row is not None:  # whether the optional secrets are set, never the secrets
        row = {
            **row,
            "app_secret_set": row["app_secret_encrypted"] is not None,
            "verify_token_set": row["verify_token_encrypted"] is not None,
        }
    return _out(WhatsAppConfigOut, row, "WhatsApp configuration")


@router.get("/me/whatsapp-config", response_model=WhatsAppConfigOut, responses=_NOT_FOUND)
async def get_my_whatsapp(user_id: UserId, uow: TenantUow) -> WhatsAppConfigOut:
    return _whatsapp_out(await _read(uow, Entity.WHATSAPP, user_id))


@router.put("/me/whatsapp-config", response_model=WhatsAppConfigOut, responses=_CONFLICT)
async def put_my_whatsapp(
    body: WhatsAppConfigIn, user_id: UserId, uow: TenantUow
) -> WhatsAppConfigOut:
    box = uow.box
    values: dict[str, Any] = {
        "phone_number_id": body.phone_number_id,
        "display_phone_number": body.display_phone_number,
        "is_active": body.is_active,
        "access_token_encrypted": box.encrypt(body.access_token),
        "access_token_hint": hint(body.access_token),
        "app_secret_encrypted": box.encrypt(body.app_secret) if body.app_secret else None,
        "verify_token_encrypted": box.encrypt(body.verify_token) if body.verify_token else None,
    }
    return _whatsapp_out(await _write(uow, Entity.WHATSAPP, user_id, values))


@router.delete("/me/whatsapp-config", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_my_whatsapp(user_id: UserId, uow: TenantUow) -> None:
    await _delete(uow, Entity.WHATSAPP, user_id, "WhatsApp configuration")


# Twilio ------------------------------------------------------------------------------------
def _twilio_out(row: Row | None) -> TwilioConfigOut:
    return _out(TwilioConfigOut, row, "Twilio configuration")


@router.get("/me/twilio-config", response_model=TwilioConfigOut, responses=_NOT_FOUND)
async def get_my_twilio(user_id: UserId, uow: TenantUow) -> TwilioConfigOut:
    return _twilio_out(await _read(uow, Entity.TWILIO, user_id))


@router.put("/me/twilio-config", response_model=TwilioConfigOut, responses=_CONFLICT)
async def put_my_twilio(body: TwilioConfigIn, user_id: UserId, uow: TenantUow) -> TwilioConfigOut:
    values: dict[str, Any] = {
        "account_sid": body.account_sid,
        "auth_token_encrypted": uow.box.encrypt(body.auth_token),
        "auth_token_hint": hint(body.auth_token),
        "phone_number": body.phone_number,
        "is_active": body.is_active,
    }
    return _twilio_out(await _write(uow, Entity.TWILIO, user_id, values))


@router.delete("/me/twilio-config", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_my_twilio(user_id: UserId, uow: TenantUow) -> None:
    await _delete(uow, Entity.TWILIO, user_id, "Twilio configuration")


# Webhook links -----------------------------------------------------------------------------
def _links_out(row: Row | None) -> WebhookLinksOut:
    if row is None:
        return WebhookLinksOut(
            webhook_url=None,
            groq_api_url=None,
            webhook_enabled=False,
            groq_enabled=False,
            updated_at=None,
        )
    return WebhookLinksOut(**{k: row[k] for k in WebhookLinksOut.model_fields})


@router.get("/me/webhook-links", response_model=WebhookLinksOut)
async def get_my_links(user_id: UserId, uow: TenantUow) -> WebhookLinksOut:
    return _links_out(await _read(uow, Entity.WEBHOOK_LINKS, user_id))


@router.put("/me/webhook-links", response_model=WebhookLinksOut, responses=_BODY)
async def put_my_links(body: WebhookLinksIn, user_id: UserId, uow: TenantUow) -> WebhookLinksOut:
    values = {
        "webhook_url": str(body.webhook_url) if body.webhook_url else None,
        "groq_api_url": body.groq_api_url,
        "webhook_enabled": body.webhook_enabled,
        "groq_enabled": body.groq_enabled,
    }
    return _links_out(await _write(uow, Entity.WEBHOOK_LINKS, user_id, values))


# System (administrator) --------------------------------------------------------------------
@router.get("/system/groq-config", response_model=GroqConfigOut, responses=_NOT_FOUND)
async def get_system_groq(_: Admin, uow: AdminUow) -> GroqConfigOut:
    return _groq_out(await _read(uow, Entity.SYSTEM_GROQ, None))


@router.put("/system/groq-config", response_model=GroqConfigOut, responses=_BODY)
async def put_system_groq(body: GroqConfigIn, _: Admin, uow: AdminUow) -> GroqConfigOut:
    return _groq_out(await _write(uow, Entity.SYSTEM_GROQ, None, _groq_values(uow, body)))


def _settings_out(row: Row | None) -> SystemSettingsOut:
    if row is None:  # never set: the seed's behaviour, fallback on
        return SystemSettingsOut(fallback_enabled=True, updated_at=None)
    return SystemSettingsOut(fallback_enabled=row["fallback_enabled"], updated_at=row["updated_at"])


@router.get("/system/settings", response_model=SystemSettingsOut)
async def get_system_settings(_: Admin, uow: AdminUow) -> SystemSettingsOut:
    return _settings_out(await _read(uow, Entity.SYSTEM_SETTINGS, None))


@router.put("/system/settings", response_model=SystemSettingsOut, responses=_BODY)
async def put_system_settings(body: SystemSettingsIn, _: Admin, uow: AdminUow) -> SystemSettingsOut:
    values = {"fallback_enabled": body.fallback_enabled}
    return _settings_out(await _write(uow, Entity.SYSTEM_SETTINGS, None, values))
