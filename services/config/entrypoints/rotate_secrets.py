"""`python -m services.config.entrypoints.rotate_secrets [--check]`: rotate the secrets key.

Re-encrypts every stored secret under the FIRST key of SECRETS_KEY and re-publishes the
current config of every entity through the outbox (the compacted topic carries ciphertext
too). `--check` changes nothing and exits 1 while any secret still needs another key.
The procedure (docs/config-api.md): SECRETS_KEY="new,old" on every service → run this
with the same value → `--check` → SECRETS_KEY="new" everywhere.

Exit codes: 0 done, 1 a secret no key opens (nothing changed) or `--check` found old ones,
2 incomplete environment. Never prints a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.config.adapters.audit import Actor, ActorRole, AuditTrail
from services.config.adapters.config_store import SqlConfigStore
from services.config.adapters.outbox import ConfigOutbox, make_config_outbox
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.rotation import (
    RotationReport,
    UnreadableSecret,
    check_all,
    rotate_all,
)
from services.config.adapters.tables import config_outbox
from services.config.adapters.tenancy import DbRole, Tenancy, admin_session, role_sessions
from services.config.domain.changes import secrets_equal
from shared.crypto import SecretBox
from shared.db import make_engine
from shared.messaging import make_broker
from shared.outbox import StagedEvent
from shared.settings import BaseServiceSettings, load_settings

PROG = "python -m services.config.entrypoints.rotate_secrets"
# Every entity is re-published at once: a one-shot command can wait longer than a request.
# Past this, the running config service's outbox relay publishes what is left.
PUBLISH_WAIT_S = 60.0


def _first_key(secrets_key: str) -> SecretBox:
    return SecretBox(secrets_key.split(",")[0])


async def _rotate_in_one_unit(
    outbox: ConfigOutbox, box: SecretBox
) -> tuple[RotationReport, list[StagedEvent]]:
    """Every secret re-encrypted and every entity re-staged in ONE transaction (config_admin),
    its events published when it commits."""
    admin = Tenancy(DbRole.ADMIN)
    async with outbox.unit(PUBLISH_WAIT_S, on_begin=admin.begin) as unit:
        audit = AuditTrail(unit.session, Actor(ActorRole.SYSTEM, None))
        repo = ConfigRepository(SqlConfigStore(unit.session), audit, unit, secrets_equal(box))
        report = await rotate_all(unit.session, repo, audit, box)
    return report, unit.published


async def _settle_outbox(
    worker: async_sessionmaker[AsyncSession], staged: Sequence[StagedEvent]
) -> int:
    """Events published before the rotation hold ciphertext under the old key: every entity
    was just re-published, so they are history nobody needs. Drop them. Returns how many
    of the new events still wait for the relay."""
    ids = [event.id for event in staged]
    async with worker() as session, session.begin():
        await session.execute(
            delete(config_outbox).where(
                config_outbox.c.published_at.is_not(None), config_outbox.c.id < min(ids, default=0)
            )
        )
        waiting = select(func.count()).where(
            config_outbox.c.id.in_(ids), config_outbox.c.published_at.is_(None)
        )
        return int((await session.execute(waiting)).scalar_one())


async def rotate(settings: BaseServiceSettings) -> RotationReport:
    secrets_key = settings.secrets_key.get_secret_value()
    engine = make_engine(settings.database_url, pool_size=2)
    broker = make_broker(settings.kafka_bootstrap_servers, client_id="config-rotate-secrets")
    try:
        await broker.connect()
        worker = role_sessions(engine, DbRole.WORKER)
        outbox = make_config_outbox(worker, broker)
        report, staged = await _rotate_in_one_unit(outbox, SecretBox(secrets_key))
        await outbox.settle()  # the newest-last checks of what was just published
        report.left_to_relay = await _settle_outbox(worker, staged)
        checked = await _check(engine, _first_key(secrets_key))
        report.not_under_first_key = checked.not_under_first_key
        return report
    finally:
        await broker.stop()
        await engine.dispose()


async def _check(engine: AsyncEngine, first_key: SecretBox) -> RotationReport:
    async with admin_session(engine) as session, session.begin():
        return await check_all(session, first_key)


async def check(settings: BaseServiceSettings) -> RotationReport:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        return await _check(engine, _first_key(settings.secrets_key.get_secret_value()))
    finally:
        await engine.dispose()


def _describe(report: RotationReport) -> str:
    counts = ", ".join(f"{name}: {count}" for name, count in sorted(report.secrets.items()))
    return counts or "none stored"


def _summary(report: RotationReport) -> str:
    line = (
        f"rotate-secrets: re-encrypted secrets ({_describe(report)}); "
        f"re-published {report.entities} config entities"
    )
    if report.left_to_relay:
        line += f" ({report.left_to_relay} left to the config service's outbox relay)"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Re-encrypt every stored secret under the first key of SECRETS_KEY."
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; fail if a secret needs an old key"
    )
    args = parser.parse_args(argv)
    settings = load_settings(BaseServiceSettings)
    if args.check:
        report = asyncio.run(check(settings))
        old = sum(report.not_under_first_key.values())
        print(f"rotate-secrets --check: secrets ({_describe(report)}); {old} need an old key")
        return 1 if old else 0
    try:
        report = asyncio.run(rotate(settings))
    except UnreadableSecret as exc:
        print(f"rotate-secrets: nothing changed: {exc}", file=sys.stderr)
        return 1
    print(_summary(report))
    return 1 if sum(report.not_under_first_key.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
