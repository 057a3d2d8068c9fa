"""Key rotation: every stored secret re-encrypted under the first key of SECRETS_KEY, and the
current state of every config entity staged again, so the compacted topic's latest record
for each entity is readable once the old key is dropped.

Runs as config_admin in ONE transaction (rows locked FOR UPDATE): either every secret is
re-encrypted and every entity re-staged, or nothing changed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.audit import Audit
from services.config.adapters.key_pool_store import KeyPoolStore
from services.config.adapters.key_tables import groq_pool_keys
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.tables import (
    system_groq_config,
    system_settings,
    user_groq_config,
    user_twilio_config,
    user_whatsapp_config,
    webhook_api_links,
)
from services.config.domain.change_events import event_for
from services.config.domain.changes import Action, Entity, field_name, secret_columns
from shared.crypto import SecretBox

ENTITIES: tuple[tuple[Entity, Table, str], ...] = (
    (Entity.GROQ, user_groq_config, "user_id"),
    (Entity.WHATSAPP, user_whatsapp_config, "user_id"),
    (Entity.TWILIO, user_twilio_config, "user_id"),
    (Entity.WEBHOOK_LINKS, webhook_api_links, "user_id"),
    (Entity.SYSTEM_GROQ, system_groq_config, "id"),
    (Entity.SYSTEM_SETTINGS, system_settings, "id"),
)


class UnreadableSecret(Exception):
    """A stored secret that no key in SECRETS_KEY opens: nothing was changed."""


@dataclass
class RotationReport:
    secrets: Counter[str] = field(default_factory=Counter)
    entities: int = 0
    # Re-staged changes the command's own publish did not get out: the service's relay will.
    left_to_relay: int = 0
    not_under_first_key: Counter[str] = field(default_factory=Counter)


def _secret_columns(table: Table) -> list[str]:
    return secret_columns([column.name for column in table.c])


def _owner(key: str, value: object) -> uuid.UUID | None:
    return value if key == "user_id" and isinstance(value, uuid.UUID) else None


async def rotate_all(
    session: AsyncSession, repo: ConfigRepository, audit: Audit, box: SecretBox
) -> RotationReport:
    report = RotationReport()
    for entity, table, key in ENTITIES:
        columns = _secret_columns(table)
        rows = (await session.execute(select(table).with_for_update())).mappings().all()
        for row in rows:
            owner = _owner(key, row[key])
            rotated: dict[str, str] = {}
            for column in columns:
                if row[column] is None:
                    continue
                try:
                    rotated[column] = box.rotate(row[column])
                except InvalidToken as exc:
                    who = f"user {owner}" if owner else "the system"
                    raise UnreadableSecret(
                        f"{entity.value} of {who}: {field_name(column)} opens with no key in"
                        " SECRETS_KEY; add the key it was encrypted with and run again"
                    ) from exc
            if rotated:
                row = (
                    (
                        await session.execute(
                            update(table)
                            .where(table.c[key] == row[key])
                            .values(**rotated)
                            .returning(*table.c)
                        )
                    )
                    .mappings()
                    .one()
                )
                names = sorted(field_name(column) for column in rotated)
                await audit.record(entity, Action.ROTATED, owner, names)
                report.secrets[entity.value] += len(rotated)
            await repo.stage(event_for(entity, owner, row))
            report.entities += 1
    await rotate_pool_keys(session, repo, audit, box, report)
    return report


async def rotate_pool_keys(
    session: AsyncSession,
    repo: ConfigRepository,
    audit: Audit,
    box: SecretBox,
    report: RotationReport,
) -> None:
    """The tenants' key pools (issue 16): each key re-encrypted, each pool re-staged."""
    table = groq_pool_keys
    rows = (await session.execute(select(table).with_for_update())).mappings().all()
    owners: set[uuid.UUID] = set()
    for row in rows:
        try:
            rotated = box.rotate(row["api_key_encrypted"])
        except InvalidToken as exc:
            raise UnreadableSecret(
                f"{Entity.GROQ_KEY.value} {row['key_id']} of user {row['user_id']}: api_key "
                "opens with no key in SECRETS_KEY; add the key it was encrypted with and run "
                "again"
            ) from exc
        await session.execute(
            update(table).where(table.c.key_id == row["key_id"]).values(api_key_encrypted=rotated)
        )
        await audit.record(Entity.GROQ_KEY, Action.ROTATED, row["user_id"], ["api_key"])
        report.secrets[Entity.GROQ_KEY.value] += 1
        owners.add(row["user_id"])
    for owner in sorted(owners, key=str):
        await KeyPoolStore(session).stage_pool(repo, owner)
        report.entities += 1


async def check_all(session: AsyncSession, first_key: SecretBox) -> RotationReport:
    """Count the secrets the first key alone cannot open (0: the old keys can go)."""
    report = RotationReport()
    for entity, table, _ in ENTITIES:
        columns = _secret_columns(table)
        if not columns:
            continue
        for row in (await session.execute(select(table))).mappings().all():
            for column in columns:
                if row[column] is None:
                    continue
                report.secrets[entity.value] += 1
                if first_key.try_decrypt(row[column]) is None:
                    report.not_under_first_key[entity.value] += 1
    for encrypted in (await session.execute(select(groq_pool_keys.c.api_key_encrypted))).scalars():
        report.secrets[Entity.GROQ_KEY.value] += 1
        if first_key.try_decrypt(encrypted) is None:
            report.not_under_first_key[Entity.GROQ_KEY.value] += 1
    return report
