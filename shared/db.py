"""SQLAlchemy asyncio engine and session factory; built by a service's main, never at import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy.engine.base
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # No pool_pre_ping: with asyncpg it is BEGIN, a ping and ROLLBACK on every checkout,
    # three round trips that were a third of all statements per message (bench/). A
    # connection PostgreSQL dropped fails its next statement instead; SQLAlchemy then
    # invalidates the whole pool, and the caller's retry (consumer retries, a provider's
    # redelivery, a 5xx the client retries) gets a fresh connection.
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
    # Statements become client spans of the trace they run in (no parameters recorded).
    # The instrumentation declares support up to SQLAlchemy < 2.1 only; its engine event
    # hooks are unchanged in 2.1 (tests/e2e/test_telemetry.py checks the spans appear).
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, enable_commenter=False, skip_dep_check=True
    )
    # The instrumentation also wraps every pool checkout in a span named "connect": a
    # second span per statement that opens no connection, in every trace, and a measurable
    # share of a service's CPU per message (bench/). The statement spans stay.
    if hasattr(sqlalchemy.engine.base.Engine.connect, "__wrapped__"):
        unwrap(sqlalchemy.engine.base.Engine, "connect")
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Statements:
    """Work that is one statement at a time: each runs on a pooled connection in autocommit,
    its own transaction, with no BEGIN/COMMIT round trips and no ORM session around it.
    A block that needs several statements to be atomic uses `make_sessionmaker` instead."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def execute(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> Result[Any]:
        """One statement; a list of parameter sets runs it for each in one round trip."""
        async with self._engine.connect() as connection:
            result: Result[Any] = await connection.execute(statement, parameters)
        return result  # buffered: readable after the connection went back to the pool
