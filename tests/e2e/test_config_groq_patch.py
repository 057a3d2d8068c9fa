"""`PATCH /v1/me/groq-config` (change the model without typing the key again) and the model
status that follows the tenant's model (issue 16), through the running config service and
the responder."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.db import engine_for
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
GROQ = "/v1/me/groq-config"


async def _patch(stack: Stack, user: uuid.UUID, body: Any) -> Any:
    return await stack.config_call("PATCH", GROQ, stack.user(user), body)


async def _pool(stack: Stack, user: uuid.UUID) -> dict[str, Any]:
    response = await stack.config_call("GET", "/v1/me/groq-keys", stack.user(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_changing_only_the_model_keeps_the_key_and_the_responder_uses_it(
    stack: Stack,
) -> None:
    key = f"gsk_patch_{uuid.uuid4().hex}"
    user, number = await stack.new_tenant(key)
    before = (await stack.config_call("GET", GROQ, stack.user(user))).json()
    changed = await _patch(stack, user, {"model": "openai/gpt-oss-20b"})
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["model"] == "openai/gpt-oss-20b"
    assert (after["api_key_hint"], after["temperature"]) == (
        before["api_key_hint"],
        before["temperature"],
    )
    assert "api_key" not in after and key not in changed.text
    answer = await stack.chat(number, f"patched {uuid.uuid4()}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"].startswith("[openai/gpt-oss-20b]")
    # the key too, and the pool's models, in one request
    both = await _patch(
        stack,
        user,
        {"api_key": f"gsk_new_{uuid.uuid4().hex}", "temperature": 0.1, "cheaper_model": "small"},
    )
    assert both.status_code == 200, both.text
    assert both.json()["api_key_hint"] != before["api_key_hint"]
    assert both.json()["temperature"] == 0.1
    assert (await _pool(stack, user))["cheaper_model"] == "small"


async def test_bad_patches_are_refused_and_change_nothing(stack: Stack) -> None:
    user, _ = await stack.new_tenant(f"gsk_bad_{uuid.uuid4().hex}")
    for body in ({}, {"model": None}, {"api_key": None}, {"temperature": 3}, {"model": ""}):
        response = await _patch(stack, user, body)
        assert response.status_code == 422, (body, response.text)
    assert (await stack.config_call("GET", GROQ, stack.user(user))).json()["temperature"] == 0.3
    nobody, _ = await stack.new_tenant(None)
    missing = await _patch(stack, nobody, {"model": "openai/gpt-oss-20b"})
    assert missing.status_code == 404


async def test_the_model_status_is_cleared_when_the_tenant_changes_its_model(
    stack: Stack,
) -> None:
    retired = f"retired-{uuid.uuid4().hex[:8]}"
    user, _ = await stack.new_tenant(None)
    await stack.put_groq(user, f"gsk_status_{uuid.uuid4().hex}", model=retired)
    settings = {"fallback_model": "openai/gpt-oss-20b", "cheaper_model": None}
    put = await stack.config_call("PUT", "/v1/me/groq-pool-settings", stack.user(user), settings)
    assert put.status_code == 200, put.text
    # as the health check leaves it once Groq reported the model decommissioned
    async with engine_for(stack.database_url) as engine, engine.begin() as connection:
        await connection.execute(  # as the config API's role, under the tenant's row policy
            text(
                "SELECT set_config('role', 'config_api', true), set_config('app.user_id', :u, true)"
            ),
            {"u": str(user)},
        )
        updated = await connection.execute(
            text(
                "UPDATE groq_pool_settings SET unavailable_models = ARRAY[:m]::varchar[], "
                "model_status = 'the model ' || :m || ' is retired' WHERE user_id = :u"
            ),
            {"m": retired, "u": user},
        )
        assert updated.rowcount == 1
    assert retired in (await _pool(stack, user))["model_status"]

    moved = await _patch(stack, user, {"model": "llama-3.1-8b-instant"})
    assert moved.status_code == 200, moved.text
    pool = await _pool(stack, user)
    assert pool["model_status"] == "" and pool["unavailable_models"] == [retired]
    # back to the retired model (by PUT): the tenant is told again, naming its fallback
    await stack.put_groq(user, f"gsk_status_{uuid.uuid4().hex}", model=retired)
    status_text = (await _pool(stack, user))["model_status"]
    assert retired in status_text and "openai/gpt-oss-20b" in status_text
    audit = await stack.config_call("GET", "/v1/me/audit?limit=20", stack.user(user))
    entries = [e for e in audit.json()["items"] if "model_status" in e["changed_fields"]]
    assert len(entries) == 2
