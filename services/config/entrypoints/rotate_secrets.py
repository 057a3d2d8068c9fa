"""`python -m services.config.rotate_secrets [--check]`: rotate the secrets key.

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

from sqlalchemy import delete

from services.config.adapters.audit import Actor, ActorRole, AuditTrail
from services.config.adapters.compaction import make_config_outbox
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.rotation import (
    RotationReport,
    UnreadableSecret,
    check_all,
    rotate_all,
)
from services.config.adapters.tables import config_outbox
from services.config.adapters.tenancy import DbRole, admin_session, role_sessions
from services.config.domain.changes import secrets_equal
from shared.crypto import SecretBox
from shared.db import make_engine
from shared.messaging import make_broker
from shared.settings import BaseServiceSettings, load_settings


def _first_key(secrets_key: str) -> SecretBox:
    return SecretBox(secrets_key.split(",")[0])


async def rotate(settings: BaseServiceSettings) -> RotationReport:
    secrets_key = settings.secrets_key.get_secret_value()
    box = SecretBox(secrets_key)
    engine = make_engine(settings.database_url, pool_size=2)
    broker = make_broker(settings.kafka_bootstrap_servers, client_id="config-rotate-secrets")
    await broker.connect()
    worker_sessions = role_sessions(engine, DbRole.WORKER)
    outbox = make_config_outbox(worker_sessions, broker)
    try:
        async with admin_session(engine) as session, session.begin():
            audit = AuditTrail(session, Actor(ActorRole.SYSTEM, None))
            repo = ConfigRepository(session, outbox, audit, secrets_equal(box))
            report = await rotate_all(session, repo, audit, box)
        await outbox.publish(repo.staged)
        # Events published before the rotation hold ciphertext under the old key: every
        # entity was just re-published, so they are history nobody needs. Drop them.
        async with worker_sessions() as session, session.begin():
            await session.execute(
                delete(config_outbox).where(
                    config_outbox.c.published_at.is_not(None),
                    config_outbox.c.id < min((e.id for e in repo.staged), default=0),
                )
            )
        async with admin_session(engine) as session, session.begin():
            report.not_under_first_key = (
                await check_all(session, _first_key(secrets_key))
            ).not_under_first_key
        return report
    finally:
        await broker.stop()
        await engine.dispose()


async def check(settings: BaseServiceSettings) -> RotationReport:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with admin_session(engine) as session, session.begin():
            return await check_all(session, _first_key(settings.secrets_key.get_secret_value()))
    finally:
        await engine.dispose()


def _describe(report: RotationReport) -> str:
    counts = ", ".join(f"{name}: {count}" for name, count in sorted(report.secrets.items()))
    return counts or "none stored"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.config.rotate_secrets",
        description="Re-encrypt every stored secret under the first key of SECRETS_KEY.",
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
    print(
        f"rotate-secrets: re-encrypted secrets ({_describe(report)}); "
        f"re-published {report.entities} config entities"
    )
    return 1 if sum(report.not_under_first_key.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
