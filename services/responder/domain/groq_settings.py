"""Which Groq keys, model and URL answer a tenant's message: the tenant's own config (its key
pool, then its single groq-config key), else the explicit system fallback when enabled,
else none. Never another tenant's key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.responder.domain.key_pool import PoolKey
from shared.contracts.config_events import (
    ConfigEvent,
    GroqConfigChanged,
    GroqKeyPoolChanged,
    KeyStatus,
    SystemSettingsChanged,
    WebhookLinksChanged,
)
from shared.contracts.messages import ConfigSource
from shared.groq_models import DEFAULT_CHAT_MODEL

SINGLE_KEY_ID = "groq-config"  # the tenant's single key: the pool's last member
SYSTEM_KEY_ID = "system"
_LAST = 1_000_000  # the single key's priority, after every pool key (0..1000)
DEFAULT_TEMPERATURE = 0.7


@dataclass(frozen=True)
class GroqAccount:
    api_key_encrypted: str
    model: str
    temperature: float


@dataclass(frozen=True)
class PoolMember:
    key: PoolKey
    api_key_encrypted: str


@dataclass(frozen=True)
class ResolvedGroq:
    source: ConfigSource
    account: GroqAccount  # the model and temperature (and, alone, the key) to use
    base_url: str | None  # None: the service default (GROQ_BASE_URL)
    keys: tuple[PoolMember, ...] = ()  # in the order to try; () = the account's key alone
    fallback_model: str | None = None  # when the model is decommissioned; None = default
    cheaper_model: str | None = None
    unavailable_models: frozenset[str] = frozenset()

    def members(self) -> tuple[PoolMember, ...]:
        if self.keys:
            return self.keys
        key_id = SYSTEM_KEY_ID if self.source is ConfigSource.FALLBACK else SINGLE_KEY_ID
        return (PoolMember(PoolKey(key_id, 0), self.account.api_key_encrypted),)


class GroqSettingsView:
    def __init__(self) -> None:
        self._users: dict[uuid.UUID, GroqAccount] = {}
        self._base_urls: dict[uuid.UUID, str] = {}
        self._pools: dict[uuid.UUID, GroqKeyPoolChanged] = {}
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
        elif isinstance(event, GroqKeyPoolChanged):
            self._pools[event.user_id] = event

    def resolve(self, user_id: uuid.UUID | None) -> ResolvedGroq | None:
        if user_id is not None:
            own = self._tenant(user_id)
            if own is not None:
                return own
        if self.fallback_enabled and self._system is not None:
            return ResolvedGroq(ConfigSource.FALLBACK, self._system, None)
        return None

    def _tenant(self, user_id: uuid.UUID) -> ResolvedGroq | None:
        account = self._users.get(user_id)
        pool = self._pools.get(user_id)
        if pool is None:
            if account is None:
                return None
            return ResolvedGroq(ConfigSource.USER, account, self._base_urls.get(user_id))
        if not pool.keys and account is None:
            return None
        members = [
            PoolMember(
                PoolKey(
                    key.key_id,
                    key.priority,
                    key.organization,
                    key.enabled,
                    invalid=key.status is KeyStatus.INVALID,
                ),
                key.api_key_encrypted,
            )
            for key in pool.keys
        ]
        if account is not None and members:
            members.append(PoolMember(PoolKey(SINGLE_KEY_ID, _LAST), account.api_key_encrypted))
        if account is None:  # a pool without groq-config: the default model
            account = GroqAccount(
                members[0].api_key_encrypted, DEFAULT_CHAT_MODEL, DEFAULT_TEMPERATURE
            )
        return ResolvedGroq(
            ConfigSource.USER,
            account,
            self._base_urls.get(user_id),
            keys=tuple(members),
            fallback_model=pool.fallback_model,
            cheaper_model=pool.cheaper_model,
            unavailable_models=frozenset(pool.unavailable_models),
        )
