"""The audit log: who changed which settings (names only), when, under which request."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def _call(
    stack: Stack, method: str, path: str, headers: dict[str, str], json: Any = None
) -> httpx.Response:
    """The config API without waiting for readers to apply the change: these tests only
    look at the config service itself."""
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        return await client.request(method, path, headers=headers, json=json)


async def _entries(stack: Stack, user: uuid.UUID) -> list[dict[str, Any]]:
    response = await _call(stack, "GET", "/v1/me/audit", stack.user(user))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_every_change_is_audited_by_field_name_with_its_trace(stack: Stack) -> None:
    user = uuid.uuid4()
    key = f"gsk_audit_{uuid.uuid4().hex}"
    path = "/v1/me/groq-config"
    body = {"api_key": key, "model": "llama-3.3-70b-versatile", "temperature": 0.3}

    created = await _call(stack, "PUT", path, stack.user(user), body)
    await _call(stack, "PUT", path, stack.user(user), {**body, "model": "other-model"})
    await _call(stack, "PUT", path, stack.user(user), {**body, "api_key": key + "x"})
    await _call(stack, "PUT", path, stack.user(user), {**body, "api_key": key + "x"})
    await _call(stack, "DELETE", path, stack.user(user))

    entries = await _entries(stack, user)
    assert [(e["action"], e["changed_fields"]) for e in reversed(entries)] == [
        ("created", ["api_key", "model", "temperature"]),
        ("updated", ["model"]),
        ("updated", ["api_key", "model"]),
        ("updated", []),
        ("deleted", []),
    ]
    assert {(e["entity"], e["actor_role"], e["actor_id"], e["user_id"]) for e in entries} == {
        ("groq_config", "user", str(user), str(user))
    }
    assert entries[-1]["trace_id"] == created.headers["x-trace-id"]
    assert len({e["trace_id"] for e in entries}) == len(entries)
    assert key not in str(entries)


async def test_admins_read_any_tenants_audit_and_tenants_only_their_own(stack: Stack) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    for user in (a, b):
        body = {"api_key": f"gsk_{uuid.uuid4().hex}", "model": "m", "temperature": 0.3}
        assert (await _call(stack, "PUT", "/v1/me/groq-config", stack.user(user), body)).is_success
    links = {"webhook_url": "https://a.example/hook", "webhook_enabled": True}
    await _call(stack, "PUT", "/v1/me/webhook-links", stack.user(a), links)

    as_admin = await _call(stack, "GET", f"/v1/admin/audit?user_id={a}", stack.admin())
    assert as_admin.status_code == 200
    assert [(e["entity"], e["changed_fields"]) for e in as_admin.json()["items"]] == [
        ("webhook_links", ["groq_enabled", "webhook_enabled", "webhook_url"]),
        ("groq_config", ["api_key", "model", "temperature"]),
    ]
    assert {e["user_id"] for e in await _entries(stack, b)} == {str(b)}
    page = await _call(stack, "GET", f"/v1/admin/audit?user_id={a}&limit=1", stack.admin())
    assert len(page.json()["items"]) == 1
    refused = await _call(stack, "GET", f"/v1/admin/audit?user_id={b}", stack.user(a))
    assert refused.status_code == 403


async def test_system_changes_are_audited_as_the_administrator(stack: Stack) -> None:
    current = await _call(stack, "GET", "/v1/system/settings", stack.admin())
    enabled = current.json()["fallback_enabled"]
    await _call(stack, "PUT", "/v1/system/settings", stack.admin(), {"fallback_enabled": enabled})

    response = await _call(stack, "GET", "/v1/admin/audit?limit=5", stack.admin())
    latest = response.json()["items"][0]
    assert (latest["entity"], latest["actor_role"], latest["user_id"]) == (
        "system_settings",
        "admin",
        None,
    )
    assert latest["action"] in {"created", "updated"}
