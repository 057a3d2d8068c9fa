"""Reads and writes of the config tables; every write stages its change event in the outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.tables import (
    system_groq_config,
    system_settings,
    user_groq_config,
    user_twilio_config,
    user_whatsapp_config,
    webhook_api_links,
)
from shared.contracts.config_events import (
    GroqConfigChanged,
    SystemSettingsChanged,
    TwilioConfigChanged,
    WebhookLinksChanged,
    WhatsAppConfigChanged,
    config_event_key,
)
from shared.contracts.topics import CONFIG_CHANGES
from shared.outbox import Outbox

ConfigChange = (
    GroqConfigChanged
    | WhatsAppConfigChanged
    | TwilioConfigChanged
    | WebhookLinksChanged
    | SystemSettingsChanged
)


class NumberTaken(Exception):
    """The phone number is active for another user."""


class ConfigRepository:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self._session = session
        self._outbox = outbox
        self.staged: list[int] = []

    async def _stage(self, event: ConfigChange) -> None:
        self.staged.append(
            await self._outbox.add(
                self._session, CONFIG_CHANGES.name, config_event_key(event), event
            )
        )

    async def _one(self, table: Table, **where: Any) -> RowMapping | None:
        query = select(table).where(*(table.c[name] == value for name, value in where.items()))
        return (await self._session.execute(query)).mappings().first()

    async def _upsert(self, table: Table, keys: list[str], values: dict[str, Any]) -> RowMapping:
        statement = insert(table).values(**values)
        upsert = statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: statement.excluded[name] for name in values if name not in keys},
        ).returning(*table.c)
        return (await self._session.execute(upsert)).mappings().one()

    # Groq ------------------------------------------------------------------------------------
    async def get_groq(self, user_id: uuid.UUID | None) -> RowMapping | None:
        if user_id is None:
            return await self._one(system_groq_config, id=1)
        return await self._one(user_groq_config, user_id=user_id)

    async def put_groq(
        self, user_id: uuid.UUID | None, encrypted: str, hint: str, model: str, temperature: float
    ) -> RowMapping:
        values: dict[str, Any] = {
            "api_key_encrypted": encrypted,
            "api_key_hint": hint,
            "model": model,
            "temperature": temperature,
            "updated_at": func.now(),
        }
        if user_id is None:
            row = await self._upsert(system_groq_config, ["id"], {"id": 1, **values})
        else:
            row = await self._upsert(user_groq_config, ["user_id"], {"user_id": user_id, **values})
        await self._stage(
            GroqConfigChanged(
                user_id=user_id, api_key_encrypted=encrypted, model=model, temperature=temperature
            )
        )
        return row

    async def delete_groq(self, user_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(user_groq_config).where(user_groq_config.c.user_id == user_id)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self._stage(
            GroqConfigChanged(user_id=user_id, api_key_encrypted=None, model=None, temperature=None)
        )
        return True

    # WhatsApp --------------------------------------------------------------------------------
    async def get_whatsapp(self, user_id: uuid.UUID) -> RowMapping | None:
        return await self._one(user_whatsapp_config, user_id=user_id)

    async def put_whatsapp(self, user_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        try:
            async with self._session.begin_nested():
                row = await self._upsert(
                    user_whatsapp_config,
                    ["user_id"],
                    {"user_id": user_id, **values, "updated_at": func.now()},
                )
        except IntegrityError as exc:
            raise NumberTaken from exc
        await self._stage(
            WhatsAppConfigChanged(
                user_id=user_id,
                phone_number_id=row["phone_number_id"],
                display_phone_number=row["display_phone_number"],
                is_active=row["is_active"],
                access_token_encrypted=row["access_token_encrypted"],
                app_secret_encrypted=row["app_secret_encrypted"],
                verify_token_encrypted=row["verify_token_encrypted"],
            )
        )
        return row

    async def delete_whatsapp(self, user_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(user_whatsapp_config).where(user_whatsapp_config.c.user_id == user_id)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self._stage(
            WhatsAppConfigChanged(
                user_id=user_id, phone_number_id=None, display_phone_number=None, is_active=False
            )
        )
        return True

    # Twilio ----------------------------------------------------------------------------------
    async def get_twilio(self, user_id: uuid.UUID) -> RowMapping | None:
        return await self._one(user_twilio_config, user_id=user_id)

    async def put_twilio(self, user_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        try:
            async with self._session.begin_nested():
                row = await self._upsert(
                    user_twilio_config,
                    ["user_id"],
                    {"user_id": user_id, **values, "updated_at": func.now()},
                )
        except IntegrityError as exc:
            raise NumberTaken from exc
        await self._stage(
            TwilioConfigChanged(
                user_id=user_id,
                account_sid=row["account_sid"],
                phone_number=row["phone_number"],
                is_active=row["is_active"],
                auth_token_encrypted=row["auth_token_encrypted"],
            )
        )
        return row

    async def delete_twilio(self, user_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(user_twilio_config).where(user_twilio_config.c.user_id == user_id)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self._stage(
            TwilioConfigChanged(
                user_id=user_id, account_sid=None, phone_number=None, is_active=False
            )
        )
        return True

    # Webhook links ---------------------------------------------------------------------------
    async def get_links(self, user_id: uuid.UUID) -> RowMapping | None:
        return await self._one(webhook_api_links, user_id=user_id)

    async def put_links(self, user_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
        row = await self._upsert(
            webhook_api_links, ["user_id"], {"user_id": user_id, **values, "updated_at": func.now()}
        )
        await self._stage(WebhookLinksChanged(user_id=user_id, **values))
        return row

    # System settings -------------------------------------------------------------------------
    async def get_settings(self) -> RowMapping | None:
        return await self._one(system_settings, id=1)

    async def put_settings(self, fallback_enabled: bool) -> RowMapping:
        row = await self._upsert(
            system_settings,
            ["id"],
            {"id": 1, "fallback_enabled": fallback_enabled, "updated_at": func.now()},
        )
        await self._stage(SystemSettingsChanged(fallback_enabled=fallback_enabled))
        return row
