"""Usage per tenant, key, model and day (issue 16), from the projected events. Pure.

- ResponseGenerated: one request with its tokens, the key and Groq's last x-ratelimit-*
  values. A stored reply announced again (a redelivery) is the same message and attempt:
  only the first announcement counts.
- GroqKeyFailed: one failure of that key and model.
- MediaResolved: audio seconds transcribed (key "", model "audio": the media service does
  not say which key it used).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

USAGE_EVENT_TYPES = ("ResponseGenerated", "GroqKeyFailed", "MediaResolved")
AUDIO_MODEL = "audio"


@dataclass(frozen=True)
class UsageEvent:
    event_type: str
    user_id: uuid.UUID | None
    message_id: str | None
    attempt: int | None
    occurred_at: datetime
    summary: dict[str, Any]


@dataclass
class UsageRow:
    user_id: uuid.UUID | None
    key_id: str
    model: str
    day: date
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0
    failures: int = 0
    rate_limits: dict[str, Any] | None = None
    _rate_limits_at: datetime | None = field(default=None, repr=False)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def aggregate(events: Iterable[UsageEvent]) -> list[UsageRow]:
    rows: dict[tuple[uuid.UUID | None, str, str, date], UsageRow] = {}
    answered: set[tuple[str | None, int | None]] = set()

    def row(event: UsageEvent, key_id: str, model: str) -> UsageRow:
        slot = (event.user_id, key_id, model, event.occurred_at.date())
        if slot not in rows:
            rows[slot] = UsageRow(*slot)
        return rows[slot]

    for event in sorted(events, key=lambda e: e.occurred_at):
        summary = event.summary
        if event.event_type == "ResponseGenerated":
            if summary.get("config_source") == "none":
                continue  # a polite text, no model call
            announced = (event.message_id, event.attempt)
            if announced in answered:
                continue
            answered.add(announced)
            usage = row(event, str(summary.get("key_id") or ""), str(summary.get("model") or ""))
            usage.requests += 1
            usage.prompt_tokens += int(_number(summary.get("prompt_tokens")))
            usage.completion_tokens += int(_number(summary.get("completion_tokens")))
            if isinstance(summary.get("rate_limits"), dict):
                usage.rate_limits = summary["rate_limits"]
                usage._rate_limits_at = event.occurred_at
        elif event.event_type == "GroqKeyFailed":
            row(
                event, str(summary.get("key_id") or ""), str(summary.get("model") or "")
            ).failures += 1
        elif event.event_type == "MediaResolved":
            seconds = _number(summary.get("audio_seconds"))
            if seconds:
                row(event, "", AUDIO_MODEL).audio_seconds += seconds
    return sorted(rows.values(), key=lambda r: (str(r.user_id), r.day, r.key_id, r.model))


@dataclass(frozen=True)
class TenantTotal:
    user_id: uuid.UUID | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    audio_seconds: float
    failures: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def top_tenants(rows: Iterable[UsageRow], top: int) -> list[TenantTotal]:
    totals: dict[uuid.UUID | None, list[float]] = {}
    for row in rows:
        total = totals.setdefault(row.user_id, [0, 0, 0, 0.0, 0])
        total[0] += row.requests
        total[1] += row.prompt_tokens
        total[2] += row.completion_tokens
        total[3] += row.audio_seconds
        total[4] += row.failures
    ranked = [
        TenantTotal(user, int(t[0]), int(t[1]), int(t[2]), float(t[3]), int(t[4]))
        for user, t in totals.items()
    ]
    ranked.sort(key=lambda t: (-t.tokens, -t.requests, str(t.user_id)))
    return ranked[:top]
