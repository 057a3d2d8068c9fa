"""A conversation as the model sees it: the stored reply of a message, the recent turns,
and the prompt built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.groq_health import RateLimits


@dataclass(frozen=True)
class BotReply:
    content: str
    config_source: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    # When it was generated: the bot row's created_at and its ResponseGenerated's occurred_at
    # (a re-announced reply keeps it), so a replay of the log writes the same row.
    created_at: datetime
    # Issue 16: which pool key answered, Groq's x-ratelimit-* values, why another model than
    # the tenant's answered. Only on a fresh answer (a stored reply re-announced has none).
    key_id: str | None = None
    rate_limits: RateLimits | None = None
    fallback_reason: str | None = None


@dataclass(frozen=True)
class Turn:
    sender: str  # "user" | "bot"
    content: str


@dataclass(frozen=True)
class Admission:
    """What storing an inbound message found: the reply stored by an earlier attempt (a
    redelivery: announce it again, never ask twice), and the conversation's recent turns;
    `counts`: the limit counters once this message is counted (issue 16), in the order of
    the increments it was admitted with (empty: none asked)."""

    prior: BotReply | None
    history: Sequence[Turn]
    counts: Sequence[int] = ()


def build_prompt(system_prompt: str, history: Sequence[Turn], text: str) -> list[dict[str, str]]:
    prompt = [{"role": "system", "content": system_prompt}]
    prompt += [
        {"role": "assistant" if turn.sender == "bot" else "user", "content": turn.content}
        for turn in history
        if turn.content.strip()  # a voice note or image without caption is stored as ''
    ]
    prompt.append({"role": "user", "content": text})
    return prompt


def build_turn_prompt(
    system_prompt: str, history: Sequence[Turn], texts: Sequence[str]
) -> list[dict[str, str]]:
    """A turn's prompt: the context, then each of the customer's messages in arrival order
    (one user message each, as they were sent)."""
    prompt = build_prompt(system_prompt, history, "")[:-1]
    prompt += [{"role": "user", "content": text} for text in texts if text.strip()]
    return prompt
