"""Key and model health (issue 16): what the responder reported (groq.health.v1) and what
the periodic check with Groq's `/models` finds become the tenant's key statuses and model
status, each change audited and published as the pool's new state.

- a key Groq refused (401/403) → status invalid, one audit row, the pool republished (the
  responders then skip it); a second report of the same key changes nothing;
- a decommissioned model → added to the pool's unavailable models with a status text for
  the tenant; the responders go straight to the fallback model;
- the check runs every `key_check_interval_s` over keys never checked, "unchecked" or last
  checked a day ago.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord
from sqlalchemy import func, or_, select

from services.config.adapters.audit import Actor, ActorRole, AuditTrail
from services.config.adapters.config_store import SqlConfigStore
from services.config.adapters.groq_models import check_key
from services.config.adapters.key_pool_store import KeyPoolStore
from services.config.adapters.key_tables import groq_pool_keys
from services.config.adapters.outbox import ConfigOutbox
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.tenancy import DbRole, Tenancy
from services.config.domain.changes import Action, Entity, secrets_equal
from services.config.domain.key_pool import CheckOutcome, KeyCheck, decommissioned_status
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, Received, per_record
from shared.contracts.config_events import KeyStatus
from shared.contracts.groq_health import GroqKeyFailed, KeyFailureKind
from shared.contracts.topics import GROQ_HEALTH
from shared.crypto import SecretBox
from shared.groq_models import DEFAULT_CHAT_MODEL
from shared.logging import get_logger

GROUP_ID = "config-key-health"
RECHECK_AFTER = timedelta(days=1)
log = get_logger(__name__)


@dataclass(frozen=True)
class _Unit:
    store: KeyPoolStore
    repo: ConfigRepository


@dataclass
class KeyHealth:
    outbox: ConfigOutbox
    box: SecretBox

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[_Unit]:
        """A config_admin outbox unit acting as the system (audit actor `system`)."""
        async with self.outbox.unit(on_begin=Tenancy(DbRole.ADMIN).begin) as unit:
            audit = AuditTrail(unit.session, Actor(ActorRole.SYSTEM, None))
            repo = ConfigRepository(
                SqlConfigStore(unit.session),
                audit,
                unit,
                secrets_equal(self.box),
                session=unit.session,
            )
            yield _Unit(KeyPoolStore(unit.session), repo)

    async def key_refused(self, user_id: uuid.UUID, key_id: uuid.UUID, detail: str) -> bool:
        """Mark the key invalid, once; False when it already was (or is gone)."""
        async with self._unit() as unit:
            row = await unit.store.key(user_id, key_id)
            if row is None or row["status"] == KeyStatus.INVALID.value:
                return False
            values = {"status": KeyStatus.INVALID.value, "status_detail": detail[:300]}
            await unit.store.change(key_id, {**values, "checked_at": func.now()})
            await unit.repo.audit.record(
                Entity.GROQ_KEY, Action.MARKED_INVALID, user_id, ["status"]
            )
            await unit.store.stage_pool(unit.repo, user_id)
        log.info("groq key marked invalid", user_id=str(user_id), key_id=str(key_id))
        return True

    async def model_unavailable(self, user_id: uuid.UUID, model: str) -> bool:
        async with self._unit() as unit:
            settings = await unit.store.settings(user_id)
            unavailable = list(settings["unavailable_models"]) if settings else []
            if model in unavailable:
                return False
            fallback = (settings["fallback_model"] if settings else None) or DEFAULT_CHAT_MODEL
            await unit.store.put_settings(
                user_id,
                {
                    "unavailable_models": [*unavailable, model],
                    "model_status": decommissioned_status(model, fallback),
                },
            )
            await unit.repo.audit.record(
                Entity.GROQ_KEY_POOL,
                Action.UPDATED,
                user_id,
                ["model_status", "unavailable_models"],
            )
            await unit.store.stage_pool(unit.repo, user_id)
        log.info("groq model unavailable", user_id=str(user_id), model=model)
        return True

    async def key_checked(self, user_id: uuid.UUID, key_id: uuid.UUID, check: KeyCheck) -> None:
        if check.outcome is CheckOutcome.REFUSED:
            await self.key_refused(user_id, key_id, check.detail)
            return
        async with self._unit() as unit:
            row = await unit.store.key(user_id, key_id)
            if row is None:
                return
            values: dict[str, object] = {"checked_at": func.now()}
            new_status = check.key_status().value
            if check.outcome is CheckOutcome.ACCEPTED:
                values.update(status=new_status, status_detail="")
            await unit.store.change(key_id, values)
            if row["status"] != values.get("status", row["status"]):
                await unit.repo.audit.record(Entity.GROQ_KEY, Action.UPDATED, user_id, ["status"])
                await unit.store.stage_pool(unit.repo, user_id)
            model = await unit.store.tenant_model(user_id)
        if check.lacks(model):
            await self.model_unavailable(user_id, model)


@dataclass
class ApplyKeyReports:
    health: KeyHealth

    async def __call__(self, item: Received[GroqKeyFailed]) -> None:
        event = item.event
        if event.user_id is None:
            return  # the system fallback's key is the administrator's, not in a pool
        if event.kind is KeyFailureKind.INVALID_KEY:
            try:
                key_id = uuid.UUID(event.key_id)
            except ValueError:
                return  # the tenant's single groq-config key: its ResponseFailed says so
            detail = (
                f"Groq refused the key ({event.status}) on {event.occurred_at:%Y-%m-%d %H:%M} UTC"
            )
            await self.health.key_refused(event.user_id, key_id, detail)
        elif event.kind is KeyFailureKind.MODEL_DECOMMISSIONED:
            await self.health.model_unavailable(event.user_id, event.model)


def parse_key_failed(record: ConsumerRecord) -> GroqKeyFailed:
    return GroqKeyFailed.model_validate_json(record.value)


def key_health_consumer(
    bootstrap_servers: str, health: KeyHealth
) -> KeyedBatchConsumer[GroqKeyFailed]:
    return KeyedBatchConsumer(
        bootstrap_servers=bootstrap_servers,
        topics=[GROQ_HEALTH.name],
        group_id=GROUP_ID,
        parse=parse_key_failed,
        handler=per_record(ApplyKeyReports(health)),
        options=ConsumerOptions(max_in_flight=8, max_attempts=1_000_000, max_backoff_s=30.0),
    )


@dataclass
class KeyChecker:
    """The periodic check: each key due is asked for its models with Groq."""

    health: KeyHealth
    base_url: str
    timeout_s: float
    interval_s: float

    async def due(self) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
        table = groq_pool_keys
        stale = datetime.now(UTC) - RECHECK_AFTER
        query = select(table.c.user_id, table.c.key_id, table.c.api_key_encrypted).where(
            table.c.status != KeyStatus.INVALID.value,
            or_(
                table.c.status == KeyStatus.UNCHECKED.value,
                table.c.checked_at.is_(None),
                table.c.checked_at < stale,
            ),
        )
        async with self.health._unit() as unit:
            rows = (await unit.repo.session.execute(query)).all()
        return [(row.user_id, row.key_id, row.api_key_encrypted) for row in rows]

    async def run_once(self) -> int:
        checked = 0
        for user_id, key_id, encrypted in await self.due():
            api_key = self.health.box.try_decrypt(encrypted)
            if api_key is None:
                continue  # rotate-secrets reports it; nothing to ask Groq with
            check = await check_key(self.base_url, api_key, self.timeout_s)
            await self.health.key_checked(user_id, key_id, check)
            checked += 1
        return checked

    async def run(self) -> None:
        while True:
            try:
                checked = await self.run_once()
                if checked:
                    log.info("groq keys checked", keys=checked)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database or Kafka away: the next round retries
                log.warning("groq key check failed; next round retries", error=type(exc).__name__)
            await asyncio.sleep(self.interval_s)
