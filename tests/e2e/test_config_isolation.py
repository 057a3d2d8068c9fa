"""Tenant isolation: every endpoint against every kind of caller, and row-level security in
PostgreSQL itself (a query that forgets its WHERE still sees one tenant)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.db import engine_for
from tests.support.stack import Stack, random_number
from tests.support.tokens import admin_token, user_token

pytestmark = pytest.mark.e2e


async def _call(
    stack: Stack, method: str, path: str, headers: dict[str, str], json: Any = None
) -> httpx.Response:
    """The config API without waiting for readers to apply the change: these tests only
    look at the config service itself."""
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        return await client.request(method, path, headers=headers, json=json)


TENANT_TABLES = (
    "user_groq_config",
    "user_whatsapp_config",
    "user_twilio_config",
    "webhook_api_links",
)
ROLES = ("config_api", "config_admin", "config_worker")

# (method, path, body, who may call it). Mutating system routes get a body that fails
# validation (422): proof that the caller was let in, without changing the session's
# fallback for the tests that follow.
ME, ADMIN = "me", "admin"
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/me/groq-config", None, ME),
    ("PUT", "/v1/me/groq-config", {"api_key": "gsk_matrix_key_0000", "model": "m"}, ME),
    ("DELETE", "/v1/me/groq-config", None, ME),
    ("GET", "/v1/me/whatsapp-config", None, ME),
    ("PUT", "/v1/me/whatsapp-config", {"phone_number_id": "x"}, ME),
    ("DELETE", "/v1/me/whatsapp-config", None, ME),
    ("GET", "/v1/me/twilio-config", None, ME),
    ("PUT", "/v1/me/twilio-config", {"account_sid": "x"}, ME),
    ("DELETE", "/v1/me/twilio-config", None, ME),
    ("GET", "/v1/me/webhook-links", None, ME),
    ("PUT", "/v1/me/webhook-links", {"webhook_enabled": False}, ME),
    ("GET", "/v1/me/audit", None, ME),
    ("GET", "/v1/me/conversation-settings", None, ME),
    ("PUT", "/v1/me/conversation-settings", {"turn_quiet_ms": -1}, ME),
    ("GET", "/v1/me/media-settings", None, ME),
    ("PUT", "/v1/me/media-settings", {"language_hint": "nope"}, ME),
    ("GET", "/v1/me/conversations", None, ME),
    ("PUT", "/v1/me/conversations/whatsapp:-:+10000000000/owner", {"owner": "paused"}, ME),
    ("PUT", "/v1/me/conversations/owner", {"owner": "nobody"}, ME),
    ("GET", "/v1/system/groq-config", None, ADMIN),
    ("PUT", "/v1/system/groq-config", {"model": "no key: 422"}, ADMIN),
    ("GET", "/v1/system/settings", None, ADMIN),
    ("PUT", "/v1/system/settings", {"fallback_enabled": "not a bool"}, ADMIN),
    ("GET", "/v1/admin/stats/identification?hours=24", None, ADMIN),
    ("GET", "/v1/admin/messages/unassociated?hours=24", None, ADMIN),
    ("GET", "/v1/admin/config-coverage", None, ADMIN),
    ("GET", "/v1/admin/messages/some-message/timeline", None, ADMIN),
    ("GET", "/v1/admin/audit", None, ADMIN),
    ("GET", "/v1/me/groq-keys", None, ME),
    ("POST", "/v1/me/groq-keys", {"api_key": "not a groq key"}, ME),
    ("PATCH", f"/v1/me/groq-keys/{uuid.uuid4()}", {"label": "x"}, ME),
    ("DELETE", f"/v1/me/groq-keys/{uuid.uuid4()}", None, ME),
    ("GET", f"/v1/me/groq-keys/{uuid.uuid4()}/models", None, ME),
    ("PUT", "/v1/me/groq-pool-settings", {"fallback_model": ""}, ME),
    ("GET", "/v1/me/usage", None, ME),
    ("GET", "/v1/admin/usage?top=5", None, ADMIN),
]


def _bad_tokens(secret: str) -> dict[str, str]:
    someone = uuid.uuid4()
    unsigned = jwt.encode(
        {"sub": str(someone), "role": "service_role", "exp": int(time.time()) + 60},
        key="",
        algorithm="none",
    )
    return {
        "no token": "",
        "expired": user_token(secret, someone, ttl_s=-60),
        "alg none": unsigned,
        "wrong secret": admin_token("another-secret-that-is-long-enough-0123456789"),
        "malformed": "not.a.jwt",
        "unknown role": jwt.encode(
            {"sub": str(someone), "role": "anon", "exp": int(time.time()) + 60}, secret, "HS256"
        ),
    }


async def test_every_endpoint_against_every_caller(stack: Stack) -> None:
    tenant = stack.user(uuid.uuid4())
    bad = _bad_tokens(stack.jwt_secret)
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:

        async def call(method: str, path: str, body: Any, token: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return await client.request(method, path, json=body, headers=headers)

        for method, path, body, scope in ENDPOINTS:
            # the bad tokens at once (they change nothing), then tenant and admin in turn
            refused_all = await asyncio.gather(
                *(call(method, path, body, token) for token in bad.values())
            )
            for (name, token), response in zip(bad.items(), refused_all, strict=True):
                assert response.status_code == 401, (name, method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert not token or token not in response.text
            as_user = await client.request(method, path, json=body, headers=tenant)
            as_admin = await client.request(method, path, json=body, headers=stack.admin())
            allowed, refused = (as_user, as_admin) if scope == ME else (as_admin, as_user)
            assert refused.status_code == 403, (method, path, refused.text)
            assert allowed.status_code in {200, 204, 404, 422}, (method, path, allowed.text)


async def _full_tenant(stack: Stack) -> tuple[uuid.UUID, dict[str, str]]:
    user = uuid.uuid4()
    label = user.hex[:8]
    whatsapp = {
        "phone_number_id": f"pn{label}",
        "display_phone_number": random_number(),
        "access_token": f"EAA{label}",
    }
    groq = {"api_key": f"gsk_{label}_groq"}
    twilio = {
        "account_sid": "AC" + uuid.uuid4().hex,
        "auth_token": f"twilio_{label}",
        "phone_number": random_number(),
    }
    links = {"webhook_url": f"https://{label}.example/hook", "webhook_enabled": True}
    for path, body in (
        ("/v1/me/whatsapp-config", whatsapp),
        ("/v1/me/groq-config", groq),
        ("/v1/me/twilio-config", twilio),
        ("/v1/me/webhook-links", links),
    ):
        response = await _call(stack, "PUT", path, stack.user(user), body)
        assert response.status_code == 200, response.text
    return user, {"groq": label, "twilio": twilio["account_sid"], "links": label}


async def test_a_tenant_never_reads_or_changes_another_tenants_settings(stack: Stack) -> None:
    (a, a_marks), (b, b_marks) = await _full_tenant(stack), await _full_tenant(stack)

    for path in ("/v1/me/groq-config", "/v1/me/twilio-config", "/v1/me/webhook-links"):
        seen = await _call(stack, "GET", path, stack.user(a))
        assert seen.status_code == 200
        assert not any(mark in seen.text for mark in b_marks.values()), seen.text
    assert (
        a_marks["twilio"] in (await _call(stack, "GET", "/v1/me/twilio-config", stack.user(a))).text
    )

    for path in ("/v1/me/groq-config", "/v1/me/whatsapp-config", "/v1/me/twilio-config"):
        assert (await _call(stack, "DELETE", path, stack.user(a))).status_code == 204
        assert (await _call(stack, "GET", path, stack.user(a))).status_code == 404
        assert (await _call(stack, "GET", path, stack.user(b))).status_code == 200

    mine = (await _call(stack, "GET", "/v1/me/audit", stack.user(a))).json()["items"]
    assert mine and {entry["user_id"] for entry in mine} == {str(a)}


# Row-level security, straight in PostgreSQL ------------------------------------------------
@asynccontextmanager
async def _as_role(
    url: str, role: str | None, tenant: uuid.UUID | None = None
) -> AsyncIterator[AsyncConnection]:
    """One transaction as `role` (None: the DATABASE_URL role itself), rolled back after."""
    async with engine_for(url) as engine, engine.connect() as connection:
        transaction = await connection.begin()
        try:
            if role:
                await connection.execute(text(f"set local role {role}"))
            if tenant:
                await connection.execute(
                    text("select set_config('app.user_id', :u, true)"), {"u": str(tenant)}
                )
            yield connection
        finally:
            await transaction.rollback()


async def _users(connection: AsyncConnection, table: str) -> set[uuid.UUID]:
    query = text(f"select user_id from {table}")  # noqa: S608 - a table name of ours
    return {row[0] for row in await connection.execute(query)}


async def test_an_unfiltered_query_through_the_service_role_sees_one_tenant(stack: Stack) -> None:
    (a, _), (b, _) = await _full_tenant(stack), await _full_tenant(stack)
    url = stack.database_url

    async with _as_role(url, "config_admin") as admin:
        for table in TENANT_TABLES:
            assert {a, b} <= await _users(admin, table)  # both exist, and more

    async with _as_role(url, "config_api", a) as tenant:
        for table in TENANT_TABLES:
            assert await _users(tenant, table) == {a}, table
        assert await _users(tenant, "config_audit_log") == {a}
        changed = await tenant.execute(text("update user_groq_config set temperature = 1.5"))
        assert changed.rowcount == 1
        with pytest.raises(DBAPIError, match="row-level security"):
            async with tenant.begin_nested():
                await tenant.execute(
                    text(
                        "insert into webhook_api_links (user_id, webhook_enabled, groq_enabled)"
                        " values (:b, false, false)"
                    ),
                    {"b": b},
                )
        # its own projected events only (its usage, issue 16), under row-level security
        assert await _users(tenant, "message_events") <= {a}
        for forbidden in ("system_groq_config", "system_settings"):
            with pytest.raises(DBAPIError, match="permission denied"):
                async with tenant.begin_nested():
                    await tenant.execute(text(f"select * from {forbidden}"))  # noqa: S608
        with pytest.raises(DBAPIError, match="permission denied"):
            async with tenant.begin_nested():
                await tenant.execute(text("select payload from config_outbox"))

    async with _as_role(url, "config_api") as nobody:  # no tenant chosen: nothing
        for table in TENANT_TABLES:
            assert await _users(nobody, table) == set()

    async with _as_role(url, None) as owner:
        superuser = (
            await owner.execute(text("select rolsuper from pg_roles where rolname = current_user"))
        ).scalar_one()
        if not superuser:  # FORCE ROW LEVEL SECURITY: not even the owner, without a role
            for table in TENANT_TABLES:
                assert await _users(owner, table) == set()


async def test_the_service_roles_are_neither_superuser_nor_owner(stack: Stack) -> None:
    async with _as_role(stack.database_url, None) as connection:
        roles = (
            await connection.execute(
                text(
                    "select rolname, rolsuper, rolbypassrls, rolcanlogin from pg_roles"
                    " where rolname = any(:names)"
                ),
                {"names": list(ROLES)},
            )
        ).all()
        assert sorted(r.rolname for r in roles) == sorted(ROLES)
        assert not any(r.rolsuper or r.rolbypassrls or r.rolcanlogin for r in roles)
        tables = (
            await connection.execute(
                text(
                    "select relname, relowner::regrole::text as owner, relrowsecurity,"
                    " relforcerowsecurity from pg_class where relname = any(:names)"
                ),
                {"names": [*TENANT_TABLES, "config_audit_log", "message_events"]},
            )
        ).all()
        assert len(tables) == len(TENANT_TABLES) + 2
        for table in tables:
            assert table.owner not in ROLES
            assert table.relrowsecurity and table.relforcerowsecurity, table.relname
