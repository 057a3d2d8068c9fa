"""A tenant's Groq key pool as the config service sees it (issue 16). Pure: what a key
check means, and the change event that describes the stored pool."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.contracts.config_events import GroqKeyPoolChanged, GroqPoolKey, KeyStatus
from shared.groq_models import DEFAULT_CHAT_MODEL

MAX_KEYS = 10
SINGLE_KEY_ID = "groq-config"  # the tenant's /v1/me/groq-config key, the pool's last member


class CheckOutcome(StrEnum):
    ACCEPTED = "accepted"  # Groq listed the key's models
    REFUSED = "refused"  # 401/403: the key is not valid
    UNREACHABLE = "unreachable"  # no answer, 429 or 5xx: stored unchecked, checked later


@dataclass(frozen=True)
class KeyCheck:
    outcome: CheckOutcome
    models: tuple[str, ...] = ()
    status: int | None = None

    @property
    def detail(self) -> str:
        if self.outcome is CheckOutcome.REFUSED:
            return f"Groq refused the key ({self.status})"
        if self.outcome is CheckOutcome.UNREACHABLE:
            answer = f"answered {self.status}" if self.status else "was unreachable"
            return f"not checked: Groq {answer}; checked again later"
        return ""

    def key_status(self) -> KeyStatus:
        return {
            CheckOutcome.ACCEPTED: KeyStatus.ACTIVE,
            CheckOutcome.REFUSED: KeyStatus.INVALID,
            CheckOutcome.UNREACHABLE: KeyStatus.UNCHECKED,
        }[self.outcome]

    def lacks(self, model: str) -> bool:
        """The key was checked and cannot use `model`."""
        return self.outcome is CheckOutcome.ACCEPTED and model not in self.models


def pool_changed(
    user_id: uuid.UUID, keys: Sequence[Mapping[Any, Any]], settings: Mapping[Any, Any] | None
) -> GroqKeyPoolChanged:
    return GroqKeyPoolChanged(
        user_id=user_id,
        keys=[
            GroqPoolKey(
                key_id=str(row["key_id"]),
                label=row["label"],
                organization=row["organization"],
                priority=row["priority"],
                enabled=row["enabled"],
                status=KeyStatus(row["status"]),
                api_key_encrypted=row["api_key_encrypted"],
            )
            for row in keys
        ],
        fallback_model=settings["fallback_model"] if settings else None,
        cheaper_model=settings["cheaper_model"] if settings else None,
        unavailable_models=list(settings["unavailable_models"]) if settings else [],
    )


def model_status_for(model: str, settings: Mapping[Any, Any] | None) -> str:
    """What the tenant is told about `model` once it is the tenant's model: why another
    model answers, or '' (a model changed away from a retired one clears the warning)."""
    if settings is None or model not in settings["unavailable_models"]:
        return ""
    return decommissioned_status(model, settings["fallback_model"] or DEFAULT_CHAT_MODEL)


def decommissioned_status(model: str, replacement: str) -> str:
    return (
        f"The model {model} is no longer available at Groq (decommissioned); "
        f"{replacement} answers instead. Choose another model in your Groq settings."
    )
