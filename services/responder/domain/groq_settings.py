"""Which Groq key, model and URL answer a tenant's message: the tenant's own config, else
the explicit system fallback when enabled, else none. Never another tenant's key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.contracts.config_events import (
    ConfigEvent,
    GroqConfigChanged,
    SystemSettingsChanged,
    WebhookLinksChanged,
)
from shared.contracts.messages import ConfigSource


@dataclass(frozen=True)
class GroqAccount:
    api_key_encrypted: str
    model: str
    temperature: float


@dataclass(frozen=True)
class ResolvedGroq:
    source: ConfigSource
    account: GroqAccount
    base_url: str | None  # None: the service default (GROQ_BASE_URL)


class GroqSettingsView:
    def __init__(self) -> None:
        self._users: dict[uuid.UUID, GroqAccount] = {}
        self._base_urls: dict[uuid.UUID, str] = {}
        self._system: GroqAccount | None = None
        self.fallback_enabled = True  # the seed's behaviour until an admin flips phase 3

    def apply(self, event: ConfigEvent) -> None:
        if isinstance(event, GroqConfigChanged):
            account = None
            if (
                event.api_key_encrypted
                and event.model is not None
                and event.temperature is not None
            ):
                account = GroqAccount(event.api_key_encrypted, event.model, event.temperature)
            if event.user_id is None:
                self._system = account
            elif account is None:
                self._users.pop(event.user_id, None)
            else:
                self._users[event.user_id] = account
        elif isinstance(event, WebhookLinksChanged):
            if event.groq_enabled and event.groq_api_url:
                self._base_urls[event.user_id] = event.groq_api_url
            else:
                self._base_urls.pop(event.user_id, None)
        elif isinstance(event, SystemSettingsChanged):
            self.fallback_enabled = event.fallback_enabled

    def resolve(self, user_id: uuid.UUID | None) -> ResolvedGroq | None:
        if user_id is not None and (account := self._users.get(user_id)):
            return ResolvedGroq(ConfigSource.USER, account, self._base_urls.get(user_id))
        if self.fallback_enabled and self._system is not None:
            return ResolvedGroq(ConfigSource.FALLBACK, self._system, None)
        return None
