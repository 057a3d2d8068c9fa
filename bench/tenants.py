"""Tenants for the run, configured through the config API like a tenant would."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx
import jwt

from shared.groq_models import DEFAULT_CHAT_MODEL

MODEL = DEFAULT_CHAT_MODEL


@dataclass(frozen=True)
class Tenant:
    user_id: uuid.UUID
    number: str  # E.164 business number
    phone_number_id: str
    app_secret: str
    groq_key: str
    access_token: str  # the WhatsApp token (media on the fake Graph is served for it)


def user_token(secret: str, user_id: uuid.UUID) -> str:
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def make_tenants(count: int) -> list[Tenant]:
    return [
        Tenant(
            user_id=uuid.uuid4(),
            number=f"+1415555{index:04d}",
            phone_number_id=f"pnbench{index:04d}",
            app_secret=f"app-secret-{uuid.uuid4().hex}",
            groq_key=f"gsk_bench{uuid.uuid4().hex}",
            access_token=f"EAAbench{uuid.uuid4().hex}",
        )
        for index in range(count)
    ]


async def configure(
    tenants: list[Tenant], config_url: str, jwt_secret: str, readers: list[str]
) -> None:
    """PUT each tenant's WhatsApp and Groq settings; wait until every reader applied them."""
    version = -1
    async with httpx.AsyncClient(base_url=config_url, timeout=10) as client:
        for tenant in tenants:
            headers = {"Authorization": f"Bearer {user_token(jwt_secret, tenant.user_id)}"}
            calls = (
                (
                    "/v1/me/whatsapp-config",
                    {
                        "phone_number_id": tenant.phone_number_id,
                        "display_phone_number": tenant.number,
                        "access_token": tenant.access_token,
                        "app_secret": tenant.app_secret,
                    },
                ),
                (
                    "/v1/me/groq-config",
                    {"api_key": tenant.groq_key, "model": MODEL, "temperature": 0.3},
                ),
            )
            for path, body in calls:
                response = await client.put(path, headers=headers, json=body)
                if response.status_code != 200:
                    raise RuntimeError(f"PUT {path}: {response.status_code} {response.text}")
                version = max(version, int(response.headers.get("x-config-version", -1)))
    await wait_config_applied(readers, version)


async def wait_config_applied(readers: list[str], version: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        for url in readers:
            while True:
                body = (await client.get(url + "/readyz")).json()
                if (body.get("config_version") or -1) >= version:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not apply config version {version}")
                await asyncio.sleep(0.05)
