"""Live configuration: a change is in force within 1 s, and handling a message reads no
configuration from PostgreSQL (counted with pg_stat_statements)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support.db import engine_for
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e

CONFIG_TABLES = (
    r"\m(user_groq_config|user_whatsapp_config|user_twilio_config|webhook_api_links"
    r"|system_groq_config|system_settings)\M"
)
# pg_stat_statements shows a statement's text only to the role that ran it, and the
# config service runs as its own roles: read the counters as each of them.
READERS = (None, "config_api", "config_admin", "config_worker")


async def _put(stack: Stack, path: str, headers: dict[str, str], body: object) -> float:
    """PUT, then the seconds until every config reader has applied the change."""
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        response = await client.put(path, headers=headers, json=body)
    assert response.status_code == 200, response.text
    answered = time.monotonic()
    await stack.wait_config_applied(int(response.headers["x-config-version"]))
    return time.monotonic() - answered


async def test_a_model_change_is_used_by_the_next_message_within_1s(stack: Stack) -> None:
    user, number = await stack.new_tenant(f"gsk_live_{uuid.uuid4().hex}")
    body = {"api_key": f"gsk_live2_{uuid.uuid4().hex}", "model": "live-model-b"}

    lag = await _put(stack, "/v1/me/groq-config", stack.user(user), body)
    sent = f"new model please {uuid.uuid4()}"
    response = await stack.chat(number, sent)

    assert lag < 1.0
    assert response.status_code == 200, response.text
    [call] = [r for r in await stack.groq_requests() if sent in str(r["body"])]
    assert call["body"]["model"] == "live-model-b"
    assert call["authorization"] == f"Bearer {body['api_key']}"


async def test_disabling_the_fallback_is_in_force_within_1s(stack: Stack) -> None:
    before = await stack.config_call("GET", "/v1/system/settings", stack.admin())
    await stack.set_fallback(True, api_key=f"gsk_fallback_{uuid.uuid4().hex}")
    assert (await stack.chat(random_number(), "fallback on")).status_code == 200
    try:
        lag = await _put(stack, "/v1/system/settings", stack.admin(), {"fallback_enabled": False})
        refused = await stack.chat(random_number(), "fallback off")
        assert lag < 1.0
        assert refused.status_code == 503
        assert refused.json()["configRequired"] is True
    finally:
        await stack.set_fallback(before.json()["fallback_enabled"])


async def _config_statement_calls(url: str) -> int | None:
    """Executions of statements that touch a config table, or None without the extension."""
    total = 0
    async with engine_for(url) as engine, engine.connect() as connection:
        for role in READERS:
            async with connection.begin():
                if role:
                    await connection.execute(text(f"set local role {role}"))
                try:
                    calls = await connection.execute(
                        text(
                            "select coalesce(sum(s.calls), 0) from pg_stat_statements s"
                            " join pg_database d on d.oid = s.dbid"
                            " where d.datname = current_database() and s.query ~* :tables"
                        ),
                        {"tables": CONFIG_TABLES},
                    )
                except DBAPIError:
                    return None
                total += int(calls.scalar_one())
    return total


async def test_handling_messages_reads_no_configuration(stack: Stack) -> None:
    user, number = await stack.new_tenant(f"gsk_count_{uuid.uuid4().hex}")
    before = await _config_statement_calls(stack.database_url)
    if before is None:
        pytest.skip("pg_stat_statements is not loaded in this PostgreSQL")

    for index in range(8):
        response = await stack.chat(number, f"count me {index}")
        assert response.status_code == 200, response.text
    after_messages = await _config_statement_calls(stack.database_url)

    # the counter does see config reads: one API read moves it
    await stack.config_call("GET", "/v1/me/groq-config", stack.user(user))
    after_read = await _config_statement_calls(stack.database_url)

    assert after_messages == before
    assert after_read is not None and after_read > before
