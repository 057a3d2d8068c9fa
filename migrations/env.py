"""Alembic environment: async engine from DATABASE_URL, metadata of every service's tables."""

from __future__ import annotations

import asyncio
import importlib
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.tables import metadata

config = context.config
if config.config_file_name is not None and not config.attributes.get("quiet"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Every service's tables (autogenerate compares them with the database): the migrations
# are the one place that sees all of them; no service imports another's.
TABLE_MODULES = (
    "services.config.adapters.tables",
    "services.config.adapters.key_tables",
    "services.gateway.adapters.tables",
    "services.identity.adapters.tables",
    "services.responder.adapters.tables",
)
for module in TABLE_MODULES:
    importlib.import_module(module)
target_metadata = metadata


def _url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is required to run migrations")
    return str(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
