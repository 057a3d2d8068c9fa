from __future__ import annotations

import uuid

from services.responder.domain.groq_settings import GroqSettingsView
from shared.contracts.config_events import (
    GroqConfigChanged,
    SystemSettingsChanged,
    WebhookLinksChanged,
)
from shared.contracts.messages import ConfigSource


def _groq(user: uuid.UUID | None, key: str | None, model: str = "m") -> GroqConfigChanged:
    return GroqConfigChanged(
        user_id=user,
        api_key_encrypted=key,
        model=model if key else None,
        temperature=0.5 if key else None,
    )


def test_the_tenant_config_wins_and_carries_its_base_url() -> None:
    view, user = GroqSettingsView(), uuid.uuid4()
    view.apply(_groq(None, "system"))
    view.apply(_groq(user, "mine"))
    view.apply(
        WebhookLinksChanged(
            user_id=user,
            webhook_url=None,
            groq_api_url="https://proxy.example",
            webhook_enabled=False,
            groq_enabled=True,
        )
    )
    resolved = view.resolve(user)
    assert resolved is not None
    assert (resolved.source, resolved.account.api_key_encrypted) == (ConfigSource.USER, "mine")
    assert resolved.base_url == "https://proxy.example"


def test_never_another_tenants_key() -> None:
    view = GroqSettingsView()
    view.apply(_groq(uuid.uuid4(), "someone-else"))
    assert view.resolve(uuid.uuid4()) is None
    assert view.resolve(None) is None


def test_fallback_only_when_configured_and_enabled() -> None:
    view, user = GroqSettingsView(), uuid.uuid4()
    view.apply(_groq(None, "system"))
    fallback = view.resolve(user)
    assert fallback is not None and fallback.source == ConfigSource.FALLBACK
    assert fallback.base_url is None
    view.apply(SystemSettingsChanged(fallback_enabled=False))
    assert view.resolve(user) is None
    assert view.resolve(None) is None


def test_deleting_a_tenant_config_falls_back_or_fails() -> None:
    view, user = GroqSettingsView(), uuid.uuid4()
    view.apply(_groq(user, "mine"))
    view.apply(_groq(user, None))
    assert view.resolve(user) is None
