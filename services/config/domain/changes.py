"""What a settings write changed, by field NAME: the audit log's "what" (never a value)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from shared.crypto import SecretBox

SecretsEqual = Callable[[str | None, str | None], bool]

# Derived or bookkeeping columns: never reported as a change of their own.
_IGNORED = frozenset({"id", "user_id", "created_at", "updated_at"})
_ENCRYPTED = "_encrypted"
_HINT = "_hint"


class Entity(StrEnum):
    GROQ = "groq_config"
    WHATSAPP = "whatsapp_config"
    TWILIO = "twilio_config"
    WEBHOOK_LINKS = "webhook_links"
    SYSTEM_GROQ = "system_groq_config"
    SYSTEM_SETTINGS = "system_settings"
    CONVERSATION_SETTINGS = "conversation_settings"
    MEDIA_SETTINGS = "media_settings"
    CONVERSATION_OWNER = "conversation_owner"  # audit only: the change itself is an event
    GROQ_KEY = "groq_key"  # one key of the tenant's pool (issue 16)
    GROQ_KEY_POOL = "groq_key_pool"  # the pool's fallback/cheaper model and model status
    TENANT_LIMITS = "tenant_limits"  # issue 16: set by the administrator
    SYSTEM_LIMITS = "system_limits"  # the limits of a tenant without its own


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    ROTATED = "rotated"
    MARKED_INVALID = "marked_invalid"  # Groq refused the key (responder or health check)


def field_name(column: str) -> str:
    """`api_key_encrypted` is reported as `api_key`: the name the API uses."""
    return column.removesuffix(_ENCRYPTED)


def changed_fields(
    old: Mapping[Any, Any] | None, new: Mapping[str, Any], secrets_equal: SecretsEqual
) -> list[str]:
    """Names of the fields `new` changes relative to `old` (None: the entity is new).

    Secret columns hold Fernet ciphertext, which differs on every encryption, so they are
    compared by what they open to (`secrets_equal`), in memory, and only named here.
    """
    names: set[str] = set()
    for column, value in new.items():
        if column in _IGNORED or column.endswith(_HINT):
            continue
        if old is None:
            if value is not None:
                names.add(field_name(column))
            continue
        before = old.get(column)
        if column.endswith(_ENCRYPTED):
            if not secrets_equal(before, value):
                names.add(field_name(column))
        elif before != value:
            names.add(column)
    return sorted(names)


def secret_columns(columns: list[str]) -> list[str]:
    return [column for column in columns if column.endswith(_ENCRYPTED)]


def secrets_equal(box: SecretBox) -> SecretsEqual:
    """Ciphertexts differ on every encryption: compare what they open to, in memory."""

    def equal(old: str | None, new: str | None) -> bool:
        if old is None or new is None:
            return old is new
        opened = box.try_decrypt(old)
        return opened is not None and opened == box.try_decrypt(new)

    return equal
