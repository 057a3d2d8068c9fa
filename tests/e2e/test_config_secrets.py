"""Secrets: ciphertext in PostgreSQL and on Kafka, never in a response, an error or a log
line; `rotate-secrets` re-encrypts everything and the system keeps working."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import text

from services.config.entrypoints import rotate_secrets
from shared.config_feed import ConfigFeed
from shared.contracts.config_events import ConfigEvent, GroqConfigChanged
from shared.contracts.topics import CONFIG_CHANGES
from shared.settings import BaseServiceSettings
from tests.support.db import engine_for
from tests.support.kafka import read_topic
from tests.support.processes import ROOT
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e

JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.")
SECRET_COLUMNS = {
    "user_groq_config": ["api_key_encrypted"],
    "user_whatsapp_config": [
        "access_token_encrypted",
        "app_secret_encrypted",
        "verify_token_encrypted",
    ],
    "user_twilio_config": ["auth_token_encrypted"],
}


async def _tenant_with_every_secret(stack: Stack) -> tuple[uuid.UUID, str, dict[str, str]]:
    user, number, mark = uuid.uuid4(), random_number(), uuid.uuid4().hex
    secrets = {
        "api_key": f"gsk_{mark}_groq",
        "access_token": f"EAA{mark}access",
        "app_secret": f"{mark}-app-secret",
        "verify_token": f"{mark}-verify",
        "auth_token": f"{mark}twilio",
    }
    bodies = {
        "/v1/me/whatsapp-config": {
            "phone_number_id": f"pn{mark[:10]}",
            "display_phone_number": number,
            "access_token": secrets["access_token"],
            "app_secret": secrets["app_secret"],
            "verify_token": secrets["verify_token"],
        },
        "/v1/me/groq-config": {"api_key": secrets["api_key"], "model": "llama-3.3-70b-versatile"},
        "/v1/me/twilio-config": {
            "account_sid": "AC" + uuid.uuid4().hex,
            "auth_token": secrets["auth_token"],
            "phone_number": random_number(),
        },
    }
    versions = []
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        for path, body in bodies.items():
            response = await client.put(path, headers=stack.user(user), json=body)
            assert response.status_code == 200, response.text
            assert not _leaks(response.text, secrets)
            versions.append(int(response.headers["x-config-version"]))
    await stack.wait_config_applied(max(versions))
    return user, number, secrets


def _leaks(blob: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in blob]


async def _admin_rows(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine_for(url) as engine, engine.connect() as connection:
        await connection.execute(text("set role config_admin"))
        return [dict(row) for row in (await connection.execute(text(sql), params)).mappings()]


async def _secret_values(url: str, user: uuid.UUID) -> dict[str, str]:
    values: dict[str, str] = {}
    for table, columns in SECRET_COLUMNS.items():
        query = f"select * from {table} where user_id = :u"  # noqa: S608 - our table names
        [row] = await _admin_rows(url, query, u=user)
        values.update({f"{table}.{column}": row[column] for column in columns})
    return values


def _opens(key: str, ciphertext: str) -> str | None:
    try:
        return Fernet(key.encode()).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return None


async def test_secrets_are_ciphertext_at_rest_on_kafka_and_absent_everywhere_else(
    stack: Stack,
) -> None:
    user, number, secrets = await _tenant_with_every_secret(stack)
    key = stack.config.env["SECRETS_KEY"]

    # a full flow with the tenant's key, and a refused update that names a secret field
    answered = await stack.chat(number, f"hello {uuid.uuid4()}")
    assert answered.status_code == 200, answered.text
    refused = await stack.config_call(
        "PUT",
        "/v1/me/groq-config",
        stack.user(user),
        {"api_key": secrets["api_key"] + "\x00", "temperature": 9},
    )
    assert refused.status_code == 422
    assert not _leaks(refused.text, secrets)

    for path in ("/v1/me/groq-config", "/v1/me/whatsapp-config", "/v1/me/twilio-config"):
        response = await stack.config_call("GET", path, stack.user(user))
        assert response.status_code == 200 and not _leaks(response.text, secrets)
    for path in ("/v1/me/audit", f"/v1/admin/audit?user_id={user}"):
        headers = stack.user(user) if "/me/" in path else stack.admin()
        assert not _leaks((await stack.config_call("GET", path, headers)).text, secrets)

    stored = await _secret_values(stack.database_url, user)
    assert stored and all(value.startswith("gAAAAA") for value in stored.values())
    assert sorted(_opens(key, value) or "" for value in stored.values()) == sorted(
        secrets[name] for name in secrets
    )
    for table in (*SECRET_COLUMNS, "config_audit_log", "message_events"):
        query = f"select t::text as row from {table} t"  # noqa: S608 - our table names
        dump = await _admin_rows(stack.database_url, query)
        assert not _leaks("\n".join(r["row"] for r in dump), secrets), table

    bootstrap = stack.config.env["KAFKA_BOOTSTRAP_SERVERS"]
    records = await read_topic(bootstrap, CONFIG_CHANGES.name)
    assert records and not _leaks("\n".join(v.decode() for _, _, v in records if v), secrets)

    for service in stack.services:
        log = service.log_text()
        assert not _leaks(log, secrets), service.name
        assert not JWT.search(log), service.name


def _rotate_command(stack: Stack, secrets_key: str) -> subprocess.CompletedProcess[str]:
    """`python -m services.config.entrypoints.rotate_secrets`, exactly as an operator runs it."""
    env = {**os.environ, **stack.config.env, "SECRETS_KEY": secrets_key}
    return subprocess.run(
        [sys.executable, "-m", "services.config.entrypoints.rotate_secrets"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(stack: Stack, secrets_key: str) -> BaseServiceSettings:
    return BaseServiceSettings(
        kafka_bootstrap_servers=stack.config.env["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=stack.database_url,
        secrets_key=SecretStr(secrets_key),
    )


async def _latest_groq_event(bootstrap: str, user: uuid.UUID) -> GroqConfigChanged:
    """What a consumer rebuilding its view from the compacted topic ends up with."""
    latest: dict[str, GroqConfigChanged] = {}

    def apply(event: ConfigEvent) -> None:
        if isinstance(event, GroqConfigChanged) and event.user_id == user:
            latest["groq"] = event

    feed = ConfigFeed(bootstrap, apply)
    await feed.start()
    await feed.stop()
    return latest["groq"]


async def test_rotate_secrets_reencrypts_everything_and_the_system_keeps_working(
    stack: Stack,
) -> None:
    user, number, secrets = await _tenant_with_every_secret(stack)
    old = stack.config.env["SECRETS_KEY"]
    new = Fernet.generate_key().decode()
    before = await _secret_values(stack.database_url, user)
    bootstrap = stack.config.env["KAFKA_BOOTSTRAP_SERVERS"]
    version_before = (await _latest_groq_event(bootstrap, user)).version

    rotated = _rotate_command(stack, f"{new},{old}")
    try:
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert "re-encrypted" in rotated.stdout
        assert not _leaks(rotated.stdout + rotated.stderr, secrets)
        after = await _secret_values(stack.database_url, user)
        for column, ciphertext in after.items():
            assert ciphertext != before[column], column
            assert _opens(old, ciphertext) is None, column  # the old key can be dropped
        assert {_opens(new, c) for c in after.values()} == set(secrets.values())
        # the topic's current state opens with the new key alone, as a restarted consumer sees it
        event = await _latest_groq_event(bootstrap, user)
        assert (
            event.api_key_encrypted and _opens(new, event.api_key_encrypted) == secrets["api_key"]
        )
        assert event.version == version_before + 1  # a newer change: no view ignores it
        checked = await rotate_secrets.check(_settings(stack, new))  # the new key alone
        assert checked.secrets and not checked.not_under_first_key
        audit = await stack.config_call("GET", f"/v1/admin/audit?user_id={user}", stack.admin())
        rotations = [e for e in audit.json()["items"] if e["action"] == "rotated"]
        assert {e["entity"] for e in rotations} == {
            "groq_config",
            "whatsapp_config",
            "twilio_config",
        }
        assert {e["actor_role"] for e in rotations} == {"system"}
    finally:
        # back to the session's key, so the running services (old key only) read everything
        # (in-process: the command itself was exercised above)
        restored = await rotate_secrets.rotate(_settings(stack, f"{old},{new}"))
        assert not restored.not_under_first_key

    event = await _latest_groq_event(bootstrap, user)
    assert event.api_key_encrypted and _opens(old, event.api_key_encrypted) == secrets["api_key"]
    assert event.version == version_before + 2
    await _wait_for_view(stack)
    text_sent = f"after rotation {uuid.uuid4()}"
    response = await stack.chat(number, text_sent)
    assert response.status_code == 200, response.text
    seen = [r for r in await stack.groq_requests() if text_sent in str(r["body"])]
    assert [r["authorization"] for r in seen] == [f"Bearer {secrets['api_key']}"]


async def _wait_for_view(stack: Stack) -> None:
    """The restore re-published every entity: wait until the readers caught up with it."""
    bootstrap = stack.config.env["KAFKA_BOOTSTRAP_SERVERS"]
    records = await read_topic(bootstrap, CONFIG_CHANGES.name)
    last = max(offset for _, offset, _ in records)
    await stack.wait_config_applied(last)
