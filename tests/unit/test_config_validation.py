"""Settings validation, audit field diffs and token rules of the config service (pure)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet
from fastapi import HTTPException
from pydantic import ValidationError

from services.config.api.auth import decode_token
from services.config.api.schemas import GroqConfigIn, WebhookLinksIn, WhatsAppConfigIn
from services.config.domain.changes import changed_fields, secrets_equal
from shared.crypto import SecretBox

SECRET = "s" * 40


# webhook links -------------------------------------------------------------------------------
def test_groq_enabled_needs_a_groq_url() -> None:
    with pytest.raises(ValidationError, match="groq_enabled needs groq_api_url"):
        WebhookLinksIn(groq_enabled=True)
    with pytest.raises(ValidationError, match="webhook_enabled needs webhook_url"):
        WebhookLinksIn(webhook_enabled=True)
    links = WebhookLinksIn.model_validate(
        {"groq_enabled": True, "groq_api_url": "https://proxy.example/openai/v1/"}
    )
    assert links.groq_api_url == "https://proxy.example"


@pytest.mark.parametrize(
    "url", ["ftp://proxy.example", "javascript:alert(1)", "proxy.example", "https://", "x" * 3000]
)
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValidationError):
        WebhookLinksIn.model_validate({"webhook_url": url})
    with pytest.raises(ValidationError):
        WebhookLinksIn.model_validate({"groq_api_url": url})


# strings ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["gsk_\x00abc", "gsk_\nabc", "gsk_\ud800abc"])
def test_control_characters_and_broken_unicode_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        GroqConfigIn(api_key=bad)
    with pytest.raises(ValidationError):
        GroqConfigIn(api_key="gsk_fine", model=bad)


def test_whatsapp_numbers_are_e164_and_bounded() -> None:
    body: dict[str, Any] = {"phone_number_id": "1", "access_token": "EAA", "is_active": True}
    assert WhatsAppConfigIn(**body, display_phone_number="+1 415 555 0101").display_phone_number
    for bad in ("not a number", "+1" + "5" * 80):
        with pytest.raises(ValidationError):
            WhatsAppConfigIn(**body, display_phone_number=bad)


# audit diffs -----------------------------------------------------------------------------------
def test_changed_fields_name_secrets_by_what_they_open_to() -> None:
    box = SecretBox(Fernet.generate_key().decode())
    equal = secrets_equal(box)
    old = {
        "user_id": uuid.uuid4(),
        "api_key_encrypted": box.encrypt("gsk_one"),
        "api_key_hint": "gsk_…_one",
        "model": "a",
        "temperature": 0.5,
    }

    same_key = {**old, "api_key_encrypted": box.encrypt("gsk_one"), "model": "b"}
    new_key = {**old, "api_key_encrypted": box.encrypt("gsk_two")}

    assert changed_fields(old, same_key, equal) == ["model"]
    assert changed_fields(old, new_key, equal) == ["api_key"]
    assert changed_fields(None, old, equal) == ["api_key", "model", "temperature"]
    assert changed_fields(old, {**old, "app_secret_encrypted": None}, equal) == []


# tokens ----------------------------------------------------------------------------------------
def _token(claims: Mapping[str, object]) -> str:
    return jwt.encode({"exp": int(time.time()) + 60, **claims}, SECRET, algorithm="HS256")


def test_user_tokens_must_name_the_audience_and_admin_tokens_may_omit_it() -> None:
    user = str(uuid.uuid4())
    for claims in (
        {"sub": user, "role": "authenticated"},
        {"sub": user, "role": "authenticated", "aud": ["other"]},
        {"role": "service_role", "aud": "other"},
    ):
        with pytest.raises(HTTPException) as raised:
            decode_token(_token(claims), SECRET, "authenticated")
        assert raised.value.status_code == 401
    assert decode_token(_token({"role": "service_role"}), SECRET, "authenticated").is_admin
    listed = {"sub": user, "role": "authenticated", "aud": ["x", "authenticated"]}
    assert str(decode_token(_token(listed), SECRET, "authenticated").user_id) == user
