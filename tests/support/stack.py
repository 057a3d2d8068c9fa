"""The running system as tests see it: service URLs, and clients for its APIs."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from shared.groq_models import DEFAULT_CHAT_MODEL
from tests.support.processes import ServiceProcess
from tests.support.tokens import admin_token, user_token


def random_number() -> str:
    """A valid E.164 number drawn from ~40 million, so tests never collide."""
    area = random.choice(["212", "310", "415", "646", "718"])
    return f"+1{area}{random.randint(2_000_000, 9_999_999)}"


@dataclass
class Stack:
    gateway: ServiceProcess
    identity: ServiceProcess
    responder: ServiceProcess
    config: ServiceProcess
    fake_groq: ServiceProcess
    fake_graph: ServiceProcess
    fake_twilio: ServiceProcess
    trace_sink: ServiceProcess
    jwt_secret: str
    gateway_key: str
    database_url: str
    media: ServiceProcess | None = None  # issue 15; not in `services` (yet) to keep their checks

    @property
    def services(self) -> list[ServiceProcess]:
        return [self.config, self.identity, self.responder, self.gateway]

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {admin_token(self.jwt_secret)}"}

    def user(self, user_id: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {user_token(self.jwt_secret, user_id)}"}

    # config API ------------------------------------------------------------------------------
    async def config_call(
        self, method: str, path: str, headers: dict[str, str], json: Any = None
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.config.url, timeout=10) as client:
            response = await client.request(method, path, headers=headers, json=json)
        version = response.headers.get("x-config-version")
        if version is not None:
            await self.wait_config_applied(int(version))
        return response

    async def wait_config_applied(self, version: int, timeout: float = 5.0) -> None:
        """Wait until every config reader has applied this change (≤ 1 s by contract)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for service in (self.identity, self.responder, self.gateway):
                while True:
                    body = (await client.get(service.url + "/readyz")).json()
                    applied = body.get("config_version")
                    if applied is not None and applied >= version:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service.name} did not apply config {version}")
                    await asyncio.sleep(0.02)

    async def put_groq(
        self, user_id: uuid.UUID, api_key: str, model: str = DEFAULT_CHAT_MODEL
    ) -> None:
        body = {"api_key": api_key, "model": model, "temperature": 0.3}
        response = await self.config_call("PUT", "/v1/me/groq-config", self.user(user_id), body)
        assert response.status_code == 200, response.text

    async def put_whatsapp(
        self, user_id: uuid.UUID, number: str, number_id: str, **secrets: str
    ) -> None:
        body = {
            "phone_number_id": number_id,
            "display_phone_number": number,
            "access_token": f"EAAtest{uuid.uuid4().hex}",
            **secrets,
        }
        response = await self.config_call("PUT", "/v1/me/whatsapp-config", self.user(user_id), body)
        assert response.status_code == 200, response.text

    async def new_tenant(self, api_key: str | None) -> tuple[uuid.UUID, str]:
        """A tenant with a WhatsApp number and, if api_key is given, its own Groq config."""
        user_id = uuid.uuid4()
        number = random_number()
        await self.put_whatsapp(user_id, number, f"pn{uuid.uuid4().hex[:12]}")
        if api_key is not None:
            await self.put_groq(user_id, api_key)
        return user_id, number

    async def set_fallback(self, enabled: bool, api_key: str | None = None) -> None:
        if api_key is not None:
            body = {"api_key": api_key, "model": "llama-3.1-8b-instant", "temperature": 0.2}
            response = await self.config_call("PUT", "/v1/system/groq-config", self.admin(), body)
            assert response.status_code == 200, response.text
        response = await self.config_call(
            "PUT", "/v1/system/settings", self.admin(), {"fallback_enabled": enabled}
        )
        assert response.status_code == 200, response.text

    # gateway ---------------------------------------------------------------------------------
    async def chat(
        self,
        phone: str,
        text: str = "Hello",
        *,
        message_id: str | None = None,
        key: str | None = None,
        timeout: float = 60,
        **extra: Any,
    ) -> httpx.Response:
        body: dict[str, Any] = {"text": text, "source": "whatsapp", "phoneNumber": phone, **extra}
        if message_id:
            body["messageId"] = message_id
        headers = {"Authorization": f"Bearer {key or self.gateway_key}"}
        async with httpx.AsyncClient(base_url=self.gateway.url, timeout=timeout) as client:
            return await client.post("/api-chatbot", json=body, headers=headers)

    # fake Groq -------------------------------------------------------------------------------
    async def groq_requests(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.fake_groq.url, timeout=5) as client:
            result: list[dict[str, Any]] = (await client.get("/_fake/requests")).json()
            return result

    async def groq_control(self, path: str, body: dict[str, Any]) -> None:
        await self.fake_control(self.fake_groq, path, body)

    async def fake_control(self, fake: ServiceProcess, path: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=fake.url, timeout=5) as client:
            (await client.post(path, json=body)).raise_for_status()

    async def fake_requests(self, fake: ServiceProcess) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=fake.url, timeout=5) as client:
            result: list[dict[str, Any]] = (await client.get("/_fake/requests")).json()
            return result

    # traces ----------------------------------------------------------------------------------
    async def spans(self, trace_id: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.trace_sink.url, timeout=5) as client:
            result: list[dict[str, Any]] = (
                await client.get("/spans", params={"trace_id": trace_id})
            ).json()
            return result
