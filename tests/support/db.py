"""Direct reads of the database, for assertions only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@asynccontextmanager
async def engine_for(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def rows(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine_for(url) as engine, engine.connect() as connection:
        result = await connection.execute(text(sql), params)
        return [dict(row) for row in result.mappings()]


async def conversation_rows(url: str, message_id: str) -> list[dict[str, Any]]:
    return await rows(
        url,
        "select message_id, user_id, sender, content, phone_number, source "
        "from customer_conversations where message_id = :m order by sender desc",
        m=message_id,
    )
