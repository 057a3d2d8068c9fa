"""Bodies of the key-pool routes (issue 16). Keys are write-only: only a hint comes back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from services.config.api.schemas import Model, _In
from shared.contracts.config_events import KeyStatus

# Groq keys are `gsk_` and 52 letters and digits; a little room either way, nothing else.
GroqKey = Annotated[
    str,
    Field(
        min_length=20,
        max_length=200,
        pattern=r"^gsk_[A-Za-z0-9_\-]+$",
        description="Write-only Groq API key (gsk_…); never returned, only its hint",
    ),
]
Label = Annotated[str, Field(max_length=100, description="Your name for the key")]
Organization = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="Groq organization the key belongs to: keys of one organization share "
        "its rate limits, so a 429 on one pauses them all and a key of another "
        "organization is used instead. Omit when the key is alone in its organization",
    ),
]
Priority = Annotated[int, Field(ge=0, le=1000, description="Lower is tried first")]


class GroqKeyIn(_In):
    api_key: GroqKey
    label: Label = ""
    organization: Organization | None = None
    priority: Priority = 0
    enabled: bool = Field(True, description="A disabled key is kept but never used")


class GroqKeyPatch(_In):
    api_key: GroqKey | None = Field(
        default=None, description="A replacement key (checked with Groq like a new one)"
    )
    label: Label | None = None
    organization: Organization | None = None
    priority: Priority | None = None
    enabled: bool | None = None


class GroqKeyOut(BaseModel):
    key_id: uuid.UUID = Field(description="The key's id in the pool")
    label: str = Field(description="Your name for the key")
    organization: str | None = Field(description="Groq organization label; None = its own")
    priority: int = Field(description="Lower is tried first")
    enabled: bool = Field(description="A disabled key is never used")
    api_key_hint: str = Field(description="The key's first and last characters, never the key")
    status: KeyStatus = Field(
        description="active: Groq accepted it; unchecked: Groq was unreachable when saved, "
        "checked again later; invalid: Groq refused it (401/403), it is skipped"
    )
    status_detail: str = Field(description="Why the status is what it is, for the tenant")
    checked_at: datetime | None = Field(description="Last check with Groq; None = never")
    updated_at: datetime = Field(description="Last change of the key's settings")


class GroqPoolSettingsIn(_In):
    fallback_model: Model | None = Field(
        default=None,
        description="Answers when your model is decommissioned or unavailable; None = the "
        "system default model",
    )
    cheaper_model: Model | None = Field(
        default=None, description="Answers first when one of your limits is reached"
    )


class GroqKeyPoolOut(BaseModel):
    keys: list[GroqKeyOut] = Field(description="In the order they are tried")
    model: str = Field(description="The model your messages ask for (groq-config)")
    fallback_model: str | None = Field(description="None = the system default model")
    cheaper_model: str | None = Field(description="Used first when a limit is reached")
    unavailable_models: list[str] = Field(
        description="Models Groq reported decommissioned or absent for your keys"
    )
    model_status: str = Field(description="What happened to your model, '' when all is well")


class GroqModelsOut(BaseModel):
    key_id: uuid.UUID = Field(description="The key that was asked")
    models: list[str] = Field(description="Model ids this key can use, for the model picker")
