"""The settings API as the flow needs it: auth, write-only secrets, one owner per number."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.groq_models import DEFAULT_CHAT_MODEL
from tests.support.stack import Stack, random_number
from tests.support.tokens import user_token

pytestmark = pytest.mark.e2e


async def test_groq_config_round_trip_never_returns_the_key(stack: Stack) -> None:
    user = uuid.uuid4()
    key = f"gsk_secret_{uuid.uuid4().hex}"
    await stack.put_groq(user, key)

    response = await stack.config_call("GET", "/v1/me/groq-config", stack.user(user))

    assert response.status_code == 200
    body = response.json()
    assert key not in response.text
    assert body["api_key_hint"] == f"gsk_…{key[-4:]}"
    assert body["model"] == DEFAULT_CHAT_MODEL
    assert set(body) == {"model", "temperature", "api_key_hint", "updated_at"}

    deleted = await stack.config_call("DELETE", "/v1/me/groq-config", stack.user(user))
    assert deleted.status_code == 204
    gone = await stack.config_call("GET", "/v1/me/groq-config", stack.user(user))
    assert gone.status_code == 404


async def test_a_number_active_for_one_user_cannot_be_taken_by_another(stack: Stack) -> None:
    number = random_number()
    await stack.put_whatsapp(uuid.uuid4(), number, f"pn{uuid.uuid4().hex[:10]}")

    response = await stack.config_call(
        "PUT",
        "/v1/me/whatsapp-config",
        stack.user(uuid.uuid4()),
        {"phone_number_id": "other", "display_phone_number": number, "access_token": "EAAx"},
    )

    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"api_key": "k", "temperature": 3}, "temperature"),
        ({"api_key": "k", "model": ""}, "model"),
        ({"api_key": "k", "surprise": 1}, "surprise"),
        ({"model": "m"}, "api_key"),
    ],
)
async def test_invalid_settings_are_rejected_with_422(
    stack: Stack, body: dict[str, object], field: str
) -> None:
    response = await stack.config_call("PUT", "/v1/me/groq-config", stack.user(uuid.uuid4()), body)
    assert response.status_code == 422
    assert field in response.text


async def test_auth_is_required_and_admin_routes_need_the_admin_role(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        assert (await client.get("/v1/me/groq-config")).status_code == 401
        bad = {"Authorization": f"Bearer {user_token('another-secret-' * 3, uuid.uuid4())}"}
        assert (await client.get("/v1/me/groq-config", headers=bad)).status_code == 401
        expired = {"Authorization": f"Bearer {user_token(stack.jwt_secret, uuid.uuid4(), -60)}"}
        assert (await client.get("/v1/me/groq-config", headers=expired)).status_code == 401
        user = stack.user(uuid.uuid4())
        assert (await client.get("/v1/system/settings", headers=user)).status_code == 403
        assert (await client.get("/v1/system/settings", headers=stack.admin())).status_code == 200
