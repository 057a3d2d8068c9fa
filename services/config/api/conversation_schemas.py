"""What the conversation, media and owner routes accept and return (issues 14 and 15).

Limits are the contract's (`shared.contracts.config_events`, `.conversations`): a value the
consumers would refuse is refused here with 422, before anything is stored or published.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, Field, model_validator

from services.config.api.schemas import _In
from shared.contracts.config_events import DEFAULT_LIMIT_TEXT
from shared.contracts.conversations import ConversationOwner, OwnerChangedBy
from shared.contracts.messages import MediaKind

MAX_HANDOFF_PHRASES = 50
MAX_PHRASE_CHARS = 100
MAX_POLITE_TEXT_CHARS = 1000
# Meta: a template name is lower-case letters, digits and underscores, at most 512 chars.
TEMPLATE_NAME = r"^[a-z0-9_]{1,512}$"
# Meta's template language codes: `fr`, `en_US`, `pt_BR`, `zh_HK`, …
TEMPLATE_LANGUAGE = r"^[a-z]{2,3}(_[A-Z]{2})?$"
# A Groq model id: `whisper-large-v3-turbo`, `meta-llama/llama-4-scout-17b-16e-instruct`.
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
ISO_639_1 = r"^[a-z]{2}$"
TEXT_LANGUAGE = r"^[a-z]{2,3}([_-][A-Za-z]{2})?$"
_PRINTABLE_BUT_NEWLINES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def _phrase(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("a handoff phrase must not be empty")
    return value


def _polite_text(value: str) -> str:
    if _PRINTABLE_BUT_NEWLINES.search(value):
        raise ValueError("must not contain control characters (line breaks are fine)")
    value = value.strip()
    if not value:
        raise ValueError("a polite text must not be empty")
    return value


Phrase = Annotated[str, Field(max_length=MAX_PHRASE_CHARS), AfterValidator(_phrase)]
PoliteText = Annotated[str, Field(max_length=MAX_POLITE_TEXT_CHARS), AfterValidator(_polite_text)]


class ConversationSettingsIn(_In):
    """The whole set (PUT replaces it); a field left out takes its default."""

    turn_quiet_ms: int = Field(
        2000,
        ge=0,
        le=60000,
        description="Quiet time after a customer's message before the turn is answered; "
        "0 = one reply per message (the /api-chatbot endpoint always works so)",
    )
    turn_max_ms: int = Field(
        8000, ge=0, le=120000, description="Longest wait from the turn's first message"
    )
    typing_indicator: bool = Field(True, description="Show 'typing…' while the model runs")
    read_receipts: bool = Field(True, description="Mark the customer's last message read")
    human_expiry_s: int = Field(
        43200,
        ge=60,
        le=2592000,
        description="A human or a pause hands the conversation back to the bot after this",
    )
    handoff_phrases: list[Phrase] = Field(
        default_factory=list,
        max_length=MAX_HANDOFF_PHRASES,
        description=f"Phrases by which a customer asks for a person (at most "
        f"{MAX_HANDOFF_PHRASES}, each up to {MAX_PHRASE_CHARS} characters); [] = the "
        "French and English defaults",
    )
    reengagement_template: str | None = Field(
        None,
        pattern=TEMPLATE_NAME,
        description="Approved WhatsApp template sent instead of a reply once the 24-hour "
        "window has closed (lower-case letters, digits, underscores); null = none",
    )
    template_language: str = Field(
        "fr", pattern=TEMPLATE_LANGUAGE, description="The template's language code (fr, en_US)"
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.turn_quiet_ms and self.turn_max_ms and self.turn_max_ms < self.turn_quiet_ms:
            raise ValueError("turn_max_ms must not be shorter than turn_quiet_ms")
        self.handoff_phrases = list(dict.fromkeys(self.handoff_phrases))
        return self


class ConversationSettingsOut(BaseModel):
    turn_quiet_ms: int
    turn_max_ms: int
    typing_indicator: bool
    read_receipts: bool
    human_expiry_s: int
    handoff_phrases: list[str]
    reengagement_template: str | None
    template_language: str
    updated_at: datetime | None = Field(description="null: never set, these are the defaults")


class MediaSettingsIn(_In):
    """The whole set (PUT replaces it); a field left out takes its default."""

    transcription_model: str = Field(
        "whisper-large-v3-turbo", pattern=MODEL_NAME, description="Groq speech-to-text model"
    )
    language_hint: str | None = Field(
        None, pattern=ISO_639_1, description="ISO 639-1 hint for transcription; null = detect"
    )
    vision_model: str | None = Field(
        None,
        pattern=MODEL_NAME,
        description="Groq vision model for images; null = images get the polite text",
    )
    text_language: str = Field(
        "fr", pattern=TEXT_LANGUAGE, max_length=8, description="Language of the polite texts"
    )
    polite_texts: dict[MediaKind, PoliteText] = Field(
        default_factory=dict,
        description=f"Media kind → the tenant's own text for items the bot cannot answer "
        f"(each up to {MAX_POLITE_TEXT_CHARS} characters); {{}} = the defaults",
    )
    document_text_limit: int = Field(
        20000, ge=0, le=200000, description="Characters of a PDF/text document read; 0 = none"
    )


class MediaSettingsOut(BaseModel):
    transcription_model: str
    language_hint: str | None
    vision_model: str | None
    text_language: str
    polite_texts: dict[str, str]
    document_text_limit: int
    updated_at: datetime | None = Field(description="null: never set, these are the defaults")


class OwnerIn(_In):
    owner: ConversationOwner = Field(description="bot | human | paused")
    until: datetime | None = Field(
        default=None,
        description="When the bot takes over again. Left out: now + the tenant's "
        "human_expiry_s (for human / paused); null: no expiry. Must be in the future; "
        "must be left out or null for bot",
    )

    @model_validator(mode="after")
    def _until(self) -> Self:
        if self.until is None:
            return self
        if self.until.tzinfo is None:
            raise ValueError("until must carry a time zone (e.g. 2026-12-24T18:00:00Z)")
        if self.owner is ConversationOwner.BOT:
            raise ValueError("until is for human or paused, not bot")
        if self.until <= datetime.now(UTC):
            raise ValueError("until must be in the future")
        return self


class OwnerOut(BaseModel):
    conversation_key: str | None = Field(description="null: every conversation of the tenant")
    owner: ConversationOwner
    until: datetime | None
    changed_by: OwnerChangedBy
    changed_at: datetime
    event_id: uuid.UUID = Field(description="The ConversationOwnerChanged event published")


class OwnerState(BaseModel):
    owner: str = Field(description="bot | human | paused")
    until: datetime | None
    changed_by: str | None = Field(description="tenant_api, business_echo, customer_request, …")
    actor: str | None
    reason: str | None
    changed_at: datetime | None


class ConversationOut(BaseModel):
    conversation_key: str
    channel: str | None
    customer_phone: str | None
    business_phone: str | None
    first_message_at: datetime | None
    last_message_at: datetime | None
    message_count: int
    owner: OwnerState


class ConversationsPage(BaseModel):
    limit: int
    offset: int
    total: int
    tenant_owner: OwnerState | None = Field(
        description="The latest tenant-wide pause / resume, if any (it applies to every "
        "conversation, alongside each one's own owner)"
    )
    items: list[ConversationOut] = Field(description="Most recent traffic first")


class LimitsIn(_In):
    """The whole set (PUT replaces it); a limit left out or null = no limit. Ranges are the
    contract's (`TenantLimitsChanged`): outside them → 422, nothing stored."""

    messages_per_minute: int | None = Field(
        None, ge=1, le=100_000, description="The tenant's messages answered per minute"
    )
    tokens_per_day: int | None = Field(
        None, ge=1_000, le=1_000_000_000, description="Groq tokens per UTC day"
    )
    flood_per_minute: int | None = Field(
        None,
        ge=1,
        le=1_000,
        description="Messages per minute from one customer number; over it that customer "
        "is not answered until the minute ends (the tenant's other customers are)",
    )
    use_cheaper_model: bool = Field(
        True, description="Over a limit: answer with the tenant's cheaper model first"
    )
    use_system_fallback: bool = Field(
        False, description="Over a limit (no cheaper model): the system fallback configuration"
    )
    polite_text: PoliteText = Field(
        DEFAULT_LIMIT_TEXT,
        min_length=1,
        description="Last step: sent to the customer (the API answers it in a 429), and the "
        "conversation is handed to a person",
    )


class LimitsOut(LimitsIn):
    applies: str = Field(description="`tenant` (its own limits) or `system` (the default)")
    updated_at: datetime | None = Field(description="null: never set (no limit)")
