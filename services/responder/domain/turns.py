"""Turn rules, pure: when a turn is due, whether a generation still stands, whether the
customer asked for a human, and what the bot says then.

A turn is due `quiet` after its last message, never later than `max` after its first. The
quiet time adapts to what the customer just sent: a message that ends a sentence is likely
complete (half the quiet time), a voice note or a trailing ellipsis announces more (twice).
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.contracts.config_events import ConfigEvent, ConversationSettingsChanged
from shared.contracts.messages import Channel, UserIdentified
from shared.groq_models import json_schema_format

_DEFAULTS = ConversationSettingsChanged(user_id=uuid.UUID(int=0))

DEFAULT_HANDOFF_PHRASES = (
    # English
    "talk to a human",
    "speak to a human",
    "talk to a person",
    "speak to a person",
    "real person",
    "human agent",
    "talk to an agent",
    "speak to an agent",
    # French
    "parler à un humain",
    "parler a un humain",
    "parler à une personne",
    "parler a une personne",
    "un conseiller",
    "une conseillère",
    "une vraie personne",
    "un vrai humain",
)

_ACKNOWLEDGEMENTS = {
    "fr": "Bien sûr, je transmets votre demande à un membre de l'équipe qui vous répondra ici.",
    "en": "Of course, I am passing you to a member of the team, who will answer you here.",
}
_ENGLISH_HINTS = frozenset(
    {"the", "a", "an", "to", "i", "you", "please", "can", "could", "human", "person"}
    | {"agent", "talk", "speak", "with", "want", "need", "hello", "hi", "my", "is"}
)
_SENTENCE_END = (".", "!", "?", "\u3002", "\uff01", "\uff1f")  # and CJK full stops
_MORE_TO_COME = ("…", "...", ",", ":")


@dataclass(frozen=True)
class TurnSettings:
    quiet_ms: int = _DEFAULTS.turn_quiet_ms
    max_ms: int = _DEFAULTS.turn_max_ms
    human_expiry_s: int = _DEFAULTS.human_expiry_s
    handoff_phrases: tuple[str, ...] = DEFAULT_HANDOFF_PHRASES

    @property
    def assembles(self) -> bool:
        return self.quiet_ms > 0


@dataclass
class TurnSettingsView:
    """The tenant's conversation settings from the config feed; `default` until it has one
    (the contract's defaults, or RESPONDER_TURN_QUIET_MS when an operator set it)."""

    default: TurnSettings = field(default_factory=TurnSettings)
    _tenants: dict[uuid.UUID, TurnSettings] = field(default_factory=dict)

    def apply(self, event: ConfigEvent) -> None:
        if isinstance(event, ConversationSettingsChanged):
            self._tenants[event.user_id] = TurnSettings(
                quiet_ms=event.turn_quiet_ms,
                max_ms=event.turn_max_ms,
                human_expiry_s=event.human_expiry_s,
                handoff_phrases=tuple(event.handoff_phrases) or DEFAULT_HANDOFF_PHRASES,
            )

    def of(self, user_id: uuid.UUID | None) -> TurnSettings:
        if user_id is None:
            return self.default
        return self._tenants.get(user_id, self.default)


def assembles(message: UserIdentified, settings: TurnSettings) -> bool:
    """Whether this message goes through turn assembly: a provider's customer with a
    window; the generic endpoint's caller waits for its own answer (window 0 for it)."""
    return message.channel is not Channel.API and settings.assembles


def quiet_ms(text: str, voice: bool, settings: TurnSettings) -> int:
    tail = text.rstrip()
    if voice or tail.endswith(_MORE_TO_COME):
        return settings.quiet_ms * 2
    if tail.endswith(_SENTENCE_END):
        return settings.quiet_ms // 2
    return settings.quiet_ms


def due_at(
    first_at: datetime, last_at: datetime, text: str, voice: bool, settings: TurnSettings
) -> datetime:
    """When a turn whose last message (`text`, or a voice note) arrived at `last_at` is
    answered: after the adapted quiet time, capped at `max_ms` from its first message."""
    quiet = last_at + timedelta(milliseconds=quiet_ms(text, voice, settings))
    cap = first_at + timedelta(milliseconds=max(settings.max_ms, settings.quiet_ms // 2))
    return max(min(quiet, cap), last_at)


def superseded(generated_at_version: int, current_version: int) -> bool:
    """A message (or a transcript) joined after the generation started: it must not be
    published; the turn, now holding everything, is generated again."""
    return current_version != generated_at_version


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip()


def asks_for_human(texts: Iterable[str], phrases: Sequence[str]) -> bool:
    folded = [_fold(p) for p in phrases if p.strip()]
    return any(p in _fold(t) for t in texts for p in folded)


def language_of(texts: Sequence[str]) -> str:
    """'en' when the customer's words look English, else French (the house default)."""
    words = re.findall(r"[a-z']+", " ".join(texts).casefold())
    english = sum(w in _ENGLISH_HINTS for w in words)
    return "en" if words and english * 4 >= len(words) else "fr"


def handoff_acknowledgement(texts: Sequence[str]) -> str:
    return _ACKNOWLEDGEMENTS[language_of(texts)]


# The model hands a conversation to a person with a structured answer where it gives one
# (`{"reply": …, "action": "handoff" | "none"}`), else by this marker, which the turn
# prompt asks for; the customer never sees either.
HANDOFF_MARKER = "[handoff]"
HANDOFF_INSTRUCTION = (
    f"If the customer needs a person from the business, begin your reply with {HANDOFF_MARKER}"
    " and tell them someone will answer here."
)
STRUCTURED_HANDOFF_INSTRUCTION = (
    'Answer in JSON: {"reply": your message to the customer, "action": "handoff" or "none"}.'
    ' Use "handoff" if the customer needs a person from the business, and tell them someone'
    " will answer here."
)
# Strict mode wants every property required and no others (Groq's structured outputs).
TURN_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reply": {"type": "string", "description": "the message sent to the customer"},
        "action": {"type": "string", "enum": ["handoff", "none"]},
    },
    "required": ["reply", "action"],
    "additionalProperties": False,
}


def turn_answer_format(model: str) -> dict[str, Any] | None:
    """The structured answer's `response_format` for `model`; None: the plain-text marker."""
    return json_schema_format(model, "turn_answer", TURN_ANSWER_SCHEMA)


def handoff_instruction(model: str) -> str:
    """What the system prompt adds so that the model can hand the conversation over."""
    return (
        HANDOFF_INSTRUCTION if turn_answer_format(model) is None else STRUCTURED_HANDOFF_INSTRUCTION
    )


@dataclass(frozen=True)
class ModelAnswer:
    reply: str
    handoff: bool


def read_model_answer(content: str) -> ModelAnswer:
    stripped = content.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("reply"), str):
            return ModelAnswer(parsed["reply"].strip(), parsed.get("action") == "handoff")
    at = stripped.casefold().find(HANDOFF_MARKER)
    if at < 0:
        return ModelAnswer(content, False)
    without = stripped[:at] + stripped[at + len(HANDOFF_MARKER) :]
    return ModelAnswer(re.sub(r"\s{2,}", " ", without).strip(), True)


def failures_in_a_row(states: Sequence[str]) -> int:
    """How many of a conversation's latest finished turns (newest first) failed in a row."""
    count = 0
    for state in states:
        if state != "failed":
            break
        count += 1
    return count
