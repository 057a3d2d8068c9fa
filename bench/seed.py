"""The seed's design as a baseline: its synchronous `api-chatbot` flow in one process.

Per message, in order, each statement its own transaction (the seed called PostgREST once
per step): insert the inbound row, two identify queries (the tenant's WhatsApp number, then
conversation history), update the row's user, two config queries (the tenant's Groq
settings, then the seed's "any stored key" fallback), the LLM call (official `groq` SDK,
same fake), insert the reply; the HTTP answer carries the reply. Same server stack as the
services (shared.server.serve), same PostgreSQL, tables in their own schema `seed`.

Run: python -m bench.seed --port 8098   (DATABASE_URL, GROQ_BASE_URL in the environment)
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from groq import AsyncGroq
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.groq_models import DEFAULT_CHAT_MODEL
from shared.server import serve

SCHEMA = [
    "create schema if not exists seed",
    """create table if not exists seed.customer_conversations (
        id bigint generated always as identity primary key,
        user_id uuid, phone_number text not null, content text not null,
        sender text not null, source text not null,
        created_at timestamptz not null default now())""",
    """create index if not exists ix_seed_conv_phone
        on seed.customer_conversations (phone_number, created_at desc)""",
    """create table if not exists seed.user_whatsapp_config (
        user_id uuid primary key, phone_number text not null,
        access_token text not null, is_active boolean not null default true)""",
    """create table if not exists seed.user_groq_config (
        user_id uuid primary key, api_key text not null, model text not null,
        temperature double precision not null,
        updated_at timestamptz not null default now())""",
]
SYSTEM_PROMPT = "You are the assistant of a business answering its customers on WhatsApp."


async def create_schema(engine: AsyncEngine, tenants: Sequence[tuple[uuid.UUID, str, str]]) -> None:
    """Tables and one row per tenant (user id, business number, Groq key)."""
    async with engine.begin() as conn:
        for statement in SCHEMA:
            await conn.execute(text(statement))
        for user_id, number, key in tenants:
            await conn.execute(
                text(
                    "insert into seed.user_whatsapp_config (user_id, phone_number, access_token)"
                    " values (:u, :n, 'EAAseed') on conflict do nothing"
                ),
                {"u": user_id, "n": number},
            )
            await conn.execute(
                text(
                    "insert into seed.user_groq_config (user_id, api_key, model, temperature)"
                    " values (:u, :k, :m, 0.3) on conflict do nothing"
                ),
                {"u": user_id, "k": key, "m": DEFAULT_CHAT_MODEL},
            )


class SeedFlow:
    def __init__(self, engine: AsyncEngine, groq_base_url: str) -> None:
        self._engine = engine
        self._groq_base_url = groq_base_url
        self._clients: dict[str, AsyncGroq] = {}

    async def _one(self, sql: str, **params: Any) -> Any:
        async with self._engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return result.first() if result.returns_rows else None

    async def handle(self, body: dict[str, Any]) -> dict[str, Any]:
        phone, content, source = body["phoneNumber"], body["text"], body.get("source", "api")
        inbound = await self._one(
            "insert into seed.customer_conversations (phone_number, content, sender, source)"
            " values (:p, :c, 'user', :s) returning id",
            p=phone,
            c=content,
            s=source,
        )
        by_config = await self._one(
            "select user_id from seed.user_whatsapp_config"
            " where phone_number = :p and is_active limit 1",
            p=phone,
        )
        by_history = await self._one(
            "select user_id from seed.customer_conversations"
            " where phone_number = :p and user_id is not null order by created_at desc limit 1",
            p=phone,
        )
        user_id = by_config[0] if by_config else (by_history[0] if by_history else None)
        await self._one(
            "update seed.customer_conversations set user_id = :u where id = :i",
            u=user_id,
            i=inbound[0],
        )
        own = await self._one(
            "select api_key, model, temperature from seed.user_groq_config where user_id = :u",
            u=user_id,
        )
        fallback = await self._one(
            "select api_key, model, temperature from seed.user_groq_config"
            " order by updated_at desc limit 1"
        )
        api_key, model, temperature = own or fallback
        client = self._clients.get(api_key)
        if client is None:
            client = AsyncGroq(api_key=api_key, base_url=self._groq_base_url, max_retries=2)
            self._clients[api_key] = client
        completion = await client.chat.completions.create(
            model=model,
            temperature=temperature,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content},
            ],
        )
        reply = (completion.choices[0].message.content or "").strip()
        await self._one(
            "insert into seed.customer_conversations"
            " (user_id, phone_number, content, sender, source)"
            " values (:u, :p, :c, 'bot', :s) returning id",
            u=user_id,
            p=phone,
            c=reply,
            s=source,
        )
        return {"success": True, "response": reply, "userId": str(user_id) if user_id else None}


def build_app(database_url: str, groq_base_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # each query in its own transaction, as the seed's PostgREST calls are; no pre-ping
        # (the services do not ping either), so the baseline pays nothing extra
        engine = create_async_engine(database_url, pool_size=10, max_overflow=10)
        app.state.flow = SeedFlow(engine, groq_base_url)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(openapi_url=None, lifespan=lifespan)

    @app.post("/api-chatbot")
    async def chatbot(request: Request) -> JSONResponse:
        flow: SeedFlow = request.app.state.flow
        return JSONResponse(await flow.handle(await request.json()))

    @app.get("/readyz")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": True})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="the seed's synchronous design")
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    serve(build_app(os.environ["DATABASE_URL"], os.environ["GROQ_BASE_URL"]), port)


if __name__ == "__main__":
    main()
