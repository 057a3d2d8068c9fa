"""Issue 16 end to end with the fake Groq: a tenant's key pool is checked on save, tried in
priority order (401 → next key and the key shows invalid, one audit row; 429 → another
organization's key at once, the same organization waits), a decommissioned model falls back
and the tenant's status says why, and usage equals what the fake Groq answered, per tenant,
never visible to another tenant (API and row-level security)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.contracts.topics import ALL_TOPICS
from shared.groq_models import DEFAULT_CHAT_MODEL
from tests.support.db import engine_for
from tests.support.kafka import lag
from tests.support.processes import ROOT
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
KEYS = "/v1/me/groq-keys"


def _key(name: str) -> str:
    return f"gsk_{name}_{uuid.uuid4().hex}"


async def _add(stack: Stack, user: uuid.UUID, api_key: str, **fields: Any) -> httpx.Response:
    return await stack.config_call("POST", KEYS, stack.user(user), {"api_key": api_key, **fields})


async def _pool(stack: Stack, user: uuid.UUID) -> dict[str, Any]:
    response = await stack.config_call("GET", KEYS, stack.user(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _until(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def _calls_with(stack: Stack, api_key: str) -> list[dict[str, Any]]:
    return [
        r
        for r in await stack.groq_requests()
        if r.get("authorization") == f"Bearer {api_key}"
        and r["path"] == "/openai/v1/chat/completions"
    ]


async def _tenant_with_pool(
    stack: Stack, *keys: tuple[str, dict[str, Any]]
) -> tuple[uuid.UUID, str, list[str]]:
    user, number = await stack.new_tenant(None)
    ids = []
    for api_key, fields in keys:
        response = await _add(stack, user, api_key, **fields)
        assert response.status_code == 201, response.text
        ids.append(response.json()["key_id"])
    return user, number, ids


async def test_a_key_is_checked_with_groq_before_it_is_stored(stack: Stack) -> None:
    user, _ = await stack.new_tenant(None)
    refused = _key("refused")
    await stack.groq_control("/_fake/keys", {"key": refused, "status": 401, "for_seconds": 600})
    answer = await _add(stack, user, refused)
    assert answer.status_code == 422 and "refused this key (401)" in answer.text
    assert refused not in answer.text

    narrow = _key("narrow")
    await stack.groq_control("/_fake/keys", {"key": narrow, "models": ["qwen/qwen3-32b"]})
    answer = await _add(stack, user, narrow)
    assert answer.status_code == 422, answer.text
    assert f"cannot use the model {DEFAULT_CHAT_MODEL}" in answer.text
    assert "qwen/qwen3-32b" in answer.text
    assert (await _pool(stack, user))["keys"] == []  # nothing stored

    offline = _key("offline")
    await stack.groq_control("/_fake/keys", {"key": offline, "status": 503, "for_seconds": 600})
    answer = await _add(stack, user, offline, label="backup", organization="acme")
    assert answer.status_code == 201, answer.text
    stored = answer.json()
    assert stored["status"] == "unchecked" and stored["checked_at"] is None
    assert offline not in answer.text and stored["api_key_hint"] != offline

    for bad in ("sk-not-groq-key-000000000", "gsk_short", "gsk_" + "a" * 30 + "\u0000"):
        refusal = await _add(stack, user, bad)
        assert refusal.status_code == 422 and bad not in refusal.text

    good = _key("models")
    created = (await _add(stack, user, good, priority=1)).json()
    assert created["status"] == "active"
    models = await stack.config_call("GET", f"{KEYS}/{created['key_id']}/models", stack.user(user))
    assert models.status_code == 200 and DEFAULT_CHAT_MODEL in models.json()["models"]


async def test_a_refused_key_hands_over_to_the_next_and_shows_invalid_once(stack: Stack) -> None:
    first, second = _key("first"), _key("second")
    user, number, (first_id, _) = await _tenant_with_pool(
        stack, (first, {"priority": 0}), (second, {"priority": 1})
    )
    await stack.groq_control("/_fake/keys", {"key": first, "status": 401, "for_seconds": 600})

    for n in range(2):
        answer = await stack.chat(number, f"failover {n} {uuid.uuid4()}")
        assert answer.status_code == 200, answer.text

    assert len(await _calls_with(stack, second)) == 2

    async def invalid() -> bool:
        keys = {k["key_id"]: k for k in (await _pool(stack, user))["keys"]}
        return bool(keys[first_id]["status"] == "invalid")

    await _until(invalid, "the refused key shown invalid")
    audit = await stack.config_call("GET", "/v1/me/audit", stack.user(user))
    marked = [e for e in audit.json()["items"] if e["action"] == "marked_invalid"]
    assert [(e["entity"], e["actor_role"]) for e in marked] == [("groq_key", "system")]
    # once the pool says invalid, no replica tries the key again
    before = len(await _calls_with(stack, first))
    assert (await stack.chat(number, f"after {uuid.uuid4()}")).status_code == 200
    assert len(await _calls_with(stack, first)) == before


async def test_a_429_uses_another_organizations_key_at_once(stack: Stack) -> None:
    first, second = _key("org-a"), _key("org-b")
    _, number, _ = await _tenant_with_pool(
        stack,
        (first, {"priority": 0, "organization": "a"}),
        (second, {"priority": 1, "organization": "b"}),
    )
    await stack.groq_control(
        "/_fake/keys", {"key": first, "status": 429, "for_seconds": 30, "retry_after": 2}
    )
    answer = await stack.chat(number, f"other org {uuid.uuid4()}")
    assert answer.status_code == 200, answer.text
    [limited] = await _calls_with(stack, first)
    [answered] = await _calls_with(stack, second)
    assert answered["at"] - limited["at"] < 1.5  # at once, not after the 2 s retry-after


async def test_a_429_in_the_same_organization_waits_instead_of_hammering(stack: Stack) -> None:
    first, second = _key("same-a"), _key("same-b")
    _, number, _ = await _tenant_with_pool(
        stack,
        (first, {"priority": 0, "organization": "one"}),
        (second, {"priority": 1, "organization": "one"}),
    )
    await stack.groq_control(
        "/_fake/keys", {"key": first, "status": 429, "for_seconds": 1.5, "retry_after": 2}
    )
    text_ = f"same org {uuid.uuid4()}"
    message_id = f"same-org-{uuid.uuid4()}"
    waiting = await stack.chat(number, text_, message_id=message_id)
    # the generic endpoint's caller is told to come back (no retries configured here)
    assert waiting.status_code == 503 and waiting.json()["retryable"] is True, waiting.text
    assert len(await _calls_with(stack, first)) == 1
    assert await _calls_with(stack, second) == []  # shares the limit: not hammered
    await asyncio.sleep(2.2)
    answered = await stack.chat(number, text_, message_id=message_id)
    assert answered.status_code == 200, answered.text
    assert len(await _calls_with(stack, first)) == 2 and await _calls_with(stack, second) == []


async def test_a_decommissioned_model_falls_back_and_the_tenant_is_told(stack: Stack) -> None:
    retired = f"retired-model-{uuid.uuid4().hex[:8]}"
    key = _key("retire")
    user, number = await stack.new_tenant(None)
    assert (await _add(stack, user, key)).status_code == 201
    settings = {"fallback_model": "openai/gpt-oss-20b", "cheaper_model": None}
    put = await stack.config_call("PUT", "/v1/me/groq-pool-settings", stack.user(user), settings)
    assert put.status_code == 200, put.text
    await stack.put_groq(user, key, model=retired)  # the fake lists any model until retired
    await stack.groq_control("/_fake/models", {"decommissioned": ["llama3-70b-8192", retired]})
    try:
        answer = await stack.chat(number, f"retired {uuid.uuid4()}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["response"].startswith("[openai/gpt-oss-20b]")

        async def told() -> Any:
            pool = await _pool(stack, user)
            return retired in pool["unavailable_models"] and pool["model_status"]

        status_text = await _until(told, "the model status")
        assert retired in status_text and "openai/gpt-oss-20b" in status_text
        # the next message goes straight to the fallback: one call, not two
        calls = len(await _calls_with(stack, key))
        assert (await stack.chat(number, f"again {uuid.uuid4()}")).status_code == 200
        assert len(await _calls_with(stack, key)) == calls + 1
    finally:
        await stack.groq_control("/_fake/models", {"decommissioned": ["llama3-70b-8192"]})


async def test_usage_is_what_groq_reported_and_each_tenant_sees_only_its_own(
    stack: Stack,
) -> None:
    key_a, key_b = _key("usage-a"), _key("usage-b")
    a, number_a, (a_key_id,) = await _tenant_with_pool(stack, (key_a, {}))
    b, number_b, (b_key_id,) = await _tenant_with_pool(stack, (key_b, {}))
    for n in range(3):
        assert (await stack.chat(number_a, f"usage a {n} {uuid.uuid4()}")).status_code == 200
    assert (await stack.chat(number_b, f"usage b {uuid.uuid4()}")).status_code == 200
    answered_a = [r for r in await _calls_with(stack, key_a) if r.get("status") == 200]

    async def usage_a() -> list[dict[str, Any]] | None:
        response = await stack.config_call("GET", "/v1/me/usage", stack.user(a))
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows if sum(r["requests"] for r in rows) >= 3 else None

    [row] = await _until(usage_a, "tenant A's usage")
    assert (row["key_id"], row["model"], row["requests"]) == (a_key_id, DEFAULT_CHAT_MODEL, 3)
    assert len(answered_a) == 3
    assert (row["prompt_tokens"], row["completion_tokens"]) == (3 * 12, 3 * 7)  # the fake's usage
    assert row["rate_limits"]["limit_requests"] == 14400
    assert row["rate_limits"]["remaining_requests"] == 14400 - 3

    # B: its own usage only, not A's keys, not A's key by id
    usage_b = (await stack.config_call("GET", "/v1/me/usage", stack.user(b))).json()["rows"]
    assert {r["key_id"] for r in usage_b} <= {b_key_id}
    assert [k["key_id"] for k in (await _pool(stack, b))["keys"]] == [b_key_id]
    for method, path, body in (
        ("PATCH", f"{KEYS}/{a_key_id}", {"label": "mine"}),
        ("DELETE", f"{KEYS}/{a_key_id}", None),
        ("GET", f"{KEYS}/{a_key_id}/models", None),
    ):
        assert (await stack.config_call(method, path, stack.user(b), body)).status_code == 404
    # row-level security: as config_api for B, A's rows do not exist
    async with engine_for(stack.database_url) as engine, engine.begin() as connection:
        await connection.execute(
            text(
                "select set_config('role', 'config_api', true), set_config('app.user_id', :u, true)"
            ),
            {"u": str(b)},
        )
        seen = (
            await connection.execute(
                text(
                    "select (select count(*) from groq_pool_keys where user_id = :a)"
                    " + (select count(*) from message_events where user_id = :a)"
                ),
                {"a": a},
            )
        ).scalar_one()
    assert seen == 0
    # the administrator sees both, A first (more tokens)
    admin = await stack.config_call("GET", "/v1/admin/usage?top=1000", stack.admin())
    tenants = {t["user_id"]: t for t in admin.json()["tenants"]}
    assert tenants[str(a)]["requests"] == 3 and tenants[str(b)]["requests"] == 1
    assert (await stack.config_call("GET", "/v1/admin/usage", stack.user(a))).status_code == 403
    bad = await stack.config_call(
        "GET", "/v1/me/usage?from=2026-02-01&to=2026-01-01", stack.user(a)
    )
    assert bad.status_code == 422

    # usage is the projection's, which the config replay rebuilds from the log identically
    await _until(lambda: _projection_settled(stack), "the projection caught up", timeout=60)
    rebuilt = await _config_replay(stack, "--compare")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "message_events: identical" in rebuilt.stdout


async def _projection_settled(stack: Stack) -> bool:
    kafka = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    topics = tuple(s.name for s in ALL_TOPICS if s.name != "config.changes.v1")
    return await lag(kafka, {"config-projection": topics}) == 0


async def _config_replay(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"],
        "DATABASE_URL": stack.database_url,
    }
    command = [sys.executable, "-m", "services.config.entrypoints.replay", *args]
    return await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
