"""The settings API (contract: config section). Thin: validate, write via the repository,
publish the staged change events, answer without secrets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy.engine import RowMapping

from services.config.adapters.repository import ConfigRepository, NumberTaken
from services.config.auth import Admin, UserId
from services.config.domain.schemas import (
    GroqConfigIn,
    GroqConfigOut,
    SystemSettingsIn,
    SystemSettingsOut,
    TwilioConfigIn,
    TwilioConfigOut,
    WebhookLinksIn,
    WebhookLinksOut,
    WhatsAppConfigIn,
    WhatsAppConfigOut,
)
from shared.crypto import SecretBox, hint

VERSION_HEADER = "X-Config-Version"


class UnitOfWork:
    """One transaction; staged change events are published right after it commits."""

    def __init__(self, request: Request, response: Response) -> None:
        self._state = request.app.state
        self._response = response
        self.box: SecretBox = self._state.secret_box

    async def __aenter__(self) -> ConfigRepository:
        self._session = self._state.sessions()
        await self._session.begin()
        self.repo = ConfigRepository(self._session, self._state.outbox)
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
            version = await self._state.outbox.publish(self.repo.staged)
            if version is not None:
                self._response.headers[VERSION_HEADER] = str(version)


async def _uow(request: Request, response: Response) -> AsyncIterator[UnitOfWork]:
    yield UnitOfWork(request, response)


Uow = Annotated[UnitOfWork, Depends(_uow)]
router = APIRouter(prefix="/v1")


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {what} configured")


def _groq_out(row: RowMapping) -> GroqConfigOut:
    return GroqConfigOut(
        model=row["model"],
        temperature=row["temperature"],
        api_key_hint=row["api_key_hint"],
        updated_at=row["updated_at"],
    )


async def _put_groq(
    uow: UnitOfWork, user_id: uuid.UUID | None, body: GroqConfigIn
) -> GroqConfigOut:
    async with uow as repo:
        row = await repo.put_groq(
            user_id, uow.box.encrypt(body.api_key), hint(body.api_key), body.model, body.temperature
        )
    return _groq_out(row)


async def _get_groq(uow: UnitOfWork, user_id: uuid.UUID | None) -> GroqConfigOut:
    async with uow as repo:
        row = await repo.get_groq(user_id)
    if row is None:
        raise _not_found("Groq configuration")
    return _groq_out(row)


@router.get("/me/groq-config", response_model=GroqConfigOut)
async def get_my_groq(user_id: UserId, uow: Uow) -> GroqConfigOut:
    return await _get_groq(uow, user_id)


@router.put("/me/groq-config", response_model=GroqConfigOut)
async def put_my_groq(body: GroqConfigIn, user_id: UserId, uow: Uow) -> GroqConfigOut:
    return await _put_groq(uow, user_id, body)


@router.delete("/me/groq-config", status_code=status.HTTP_204_NO_CONTENT)
async def delete_my_groq(user_id: UserId, uow: Uow) -> None:
    async with uow as repo:
        if not await repo.delete_groq(user_id):
            raise _not_found("Groq configuration")


def _whatsapp_out(row: RowMapping) -> WhatsAppConfigOut:
    return WhatsAppConfigOut(
        phone_number_id=row["phone_number_id"],
        display_phone_number=row["display_phone_number"],
        is_active=row["is_active"],
        access_token_hint=row["access_token_hint"],
        app_secret_set=row["app_secret_encrypted"] is not None,
        verify_token_set=row["verify_token_encrypted"] is not None,
        updated_at=row["updated_at"],
    )


@router.get("/me/whatsapp-config", response_model=WhatsAppConfigOut)
async def get_my_whatsapp(user_id: UserId, uow: Uow) -> WhatsAppConfigOut:
    async with uow as repo:
        row = await repo.get_whatsapp(user_id)
    if row is None:
        raise _not_found("WhatsApp configuration")
    return _whatsapp_out(row)


@router.put("/me/whatsapp-config", response_model=WhatsAppConfigOut)
async def put_my_whatsapp(body: WhatsAppConfigIn, user_id: UserId, uow: Uow) -> WhatsAppConfigOut:
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
    try:
        async with uow as repo:
            row = await repo.put_whatsapp(user_id, values)
    except NumberTaken as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="this phone number (or phone number id) is already active for another account",
        ) from exc
    return _whatsapp_out(row)


@router.delete("/me/whatsapp-config", status_code=status.HTTP_204_NO_CONTENT)
async def delete_my_whatsapp(user_id: UserId, uow: Uow) -> None:
    async with uow as repo:
        if not await repo.delete_whatsapp(user_id):
            raise _not_found("WhatsApp configuration")


def _twilio_out(row: RowMapping) -> TwilioConfigOut:
    return TwilioConfigOut(
        account_sid=row["account_sid"],
        phone_number=row["phone_number"],
        is_active=row["is_active"],
        auth_token_hint=row["auth_token_hint"],
        updated_at=row["updated_at"],
    )


@router.get("/me/twilio-config", response_model=TwilioConfigOut)
async def get_my_twilio(user_id: UserId, uow: Uow) -> TwilioConfigOut:
    async with uow as repo:
        row = await repo.get_twilio(user_id)
    if row is None:
        raise _not_found("Twilio configuration")
    return _twilio_out(row)


@router.put("/me/twilio-config", response_model=TwilioConfigOut)
async def put_my_twilio(body: TwilioConfigIn, user_id: UserId, uow: Uow) -> TwilioConfigOut:
    values: dict[str, Any] = {
        "account_sid": body.account_sid,
        "auth_token_encrypted": uow.box.encrypt(body.auth_token),
        "auth_token_hint": hint(body.auth_token),
        "phone_number": body.phone_number,
        "is_active": body.is_active,
    }
    try:
        async with uow as repo:
            row = await repo.put_twilio(user_id, values)
    except NumberTaken as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="this phone number is already active for another account",
        ) from exc
    return _twilio_out(row)


@router.delete("/me/twilio-config", status_code=status.HTTP_204_NO_CONTENT)
async def delete_my_twilio(user_id: UserId, uow: Uow) -> None:
    async with uow as repo:
        if not await repo.delete_twilio(user_id):
            raise _not_found("Twilio configuration")


def _links_out(row: RowMapping | None) -> WebhookLinksOut:
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
async def get_my_links(user_id: UserId, uow: Uow) -> WebhookLinksOut:
    async with uow as repo:
        return _links_out(await repo.get_links(user_id))


@router.put("/me/webhook-links", response_model=WebhookLinksOut)
async def put_my_links(body: WebhookLinksIn, user_id: UserId, uow: Uow) -> WebhookLinksOut:
    values = {
        "webhook_url": str(body.webhook_url) if body.webhook_url else None,
        "groq_api_url": body.groq_api_url,
        "webhook_enabled": body.webhook_enabled,
        "groq_enabled": body.groq_enabled,
    }
    async with uow as repo:
        return _links_out(await repo.put_links(user_id, values))


@router.get("/system/groq-config", response_model=GroqConfigOut)
async def get_system_groq(_: Admin, uow: Uow) -> GroqConfigOut:
    return await _get_groq(uow, None)


@router.put("/system/groq-config", response_model=GroqConfigOut)
async def put_system_groq(body: GroqConfigIn, _: Admin, uow: Uow) -> GroqConfigOut:
    return await _put_groq(uow, None, body)


@router.get("/system/settings", response_model=SystemSettingsOut)
async def get_system_settings(_: Admin, uow: Uow) -> SystemSettingsOut:
    async with uow as repo:
        row = await repo.get_settings()
    if row is None:
        return SystemSettingsOut(fallback_enabled=True, updated_at=None)
    return SystemSettingsOut(fallback_enabled=row["fallback_enabled"], updated_at=row["updated_at"])


@router.put("/system/settings", response_model=SystemSettingsOut)
async def put_system_settings(body: SystemSettingsIn, _: Admin, uow: Uow) -> SystemSettingsOut:
    async with uow as repo:
        row = await repo.put_settings(body.fallback_enabled)
    return SystemSettingsOut(fallback_enabled=row["fallback_enabled"], updated_at=row["updated_at"])
