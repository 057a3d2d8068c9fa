"""What the responder learns about a tenant's Groq keys and models while answering (issue 16).

`RateLimits` rides on ResponseGenerated (the last `x-ratelimit-*` values Groq sent);
`GroqKeyFailed` is published on `groq.health.v1` (keyed by tenant) for every call a key did
not answer: the config service marks a refused key invalid, records a decommissioned model
in the tenant's status, and counts the failure in the tenant's usage.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import Envelope


class RateLimits(BaseModel):
    """Groq's `x-ratelimit-*` response headers: requests per day, tokens per minute."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    limit_requests: int | None = Field(default=None, description="x-ratelimit-limit-requests")
    remaining_requests: int | None = Field(
        default=None, description="x-ratelimit-remaining-requests"
    )
    reset_requests: str | None = Field(
        default=None, max_length=32, description="x-ratelimit-reset-requests, e.g. '2m59.56s'"
    )
    limit_tokens: int | None = Field(default=None, description="x-ratelimit-limit-tokens")
    remaining_tokens: int | None = Field(default=None, description="x-ratelimit-remaining-tokens")
    reset_tokens: str | None = Field(
        default=None, max_length=32, description="x-ratelimit-reset-tokens, e.g. '7.66s'"
    )


class KeyFailureKind(StrEnum):
    INVALID_KEY = "invalid_key"  # 401/403: the key is marked invalid
    RATE_LIMITED = "rate_limited"  # 429: the key's organization cools for retry-after
    UNAVAILABLE = "unavailable"  # 5xx, timeouts, no answer
    MODEL_DECOMMISSIONED = "model_decommissioned"  # the fallback model is used instead
    REJECTED = "rejected"  # any other refusal of the request


class GroqKeyFailed(Envelope):
    event_type: Literal["GroqKeyFailed"] = "GroqKeyFailed"
    user_id: uuid.UUID | None = Field(description="The tenant; None = the system fallback")
    key_id: str = Field(
        max_length=64, description="Pool key id; 'groq-config' = the tenant's single key"
    )
    model: str = Field(max_length=200)
    kind: KeyFailureKind
    status: int | None = Field(default=None, description="Groq's HTTP status; None = no answer")
    code: str | None = Field(default=None, max_length=100, description="Groq's error code")
    retry_after_s: float | None = Field(default=None, ge=0)
    message_id: str | None = Field(default=None, max_length=256)
    rate_limits: RateLimits | None = None
