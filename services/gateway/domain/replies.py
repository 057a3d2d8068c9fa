"""The rules of sending a reply out to a provider. Pure: no I/O.

Which outcomes are sent (a provider message's generated reply), how a reply is cut into
parts the provider accepts, how a provider's answer is classified (accepted, worth
another try later, refused for good), and how long to wait before the next try.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from services.gateway.domain.delivery_errors import RATE_REASONS
from shared.contracts.messages import Channel, MessageOutcome, ResponseGenerated

# The providers' largest text body, in characters.
LIMITS = {Channel.WHATSAPP: 4096, Channel.TWILIO: 1600}
# Waits between tries of one reply: exponential with jitter, or the provider's Retry-After.
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 8.0
MAX_RETRY_AFTER_S = 60.0
# Waits while the database or the broker does not answer: short, so the work resumes
# within a second of it coming back.
OUTAGE_FIRST_S = 0.05
OUTAGE_MAX_S = 1.0


def is_reply(outcome: MessageOutcome) -> bool:
    """A reply the gateway sends: generated for a message that came from a provider."""
    return isinstance(outcome, ResponseGenerated) and outcome.channel in LIMITS


def reply_parts(outcome: ResponseGenerated) -> list[str]:
    return split_text(outcome.response, LIMITS[outcome.channel])


def split_text(text: str, limit: int = 4096) -> list[str]:
    """Split a reply into parts of at most `limit` characters, at paragraph, line or word
    boundaries where possible."""
    parts: list[str] = []
    rest = text.strip() or text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [p for p in parts if p] or [""]


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"  # 429, 5xx, no answer: the same request may succeed later
    REJECTED = "rejected"  # any other 4xx: it never will


def classify(status_code: int | None) -> Verdict:
    """A provider's HTTP answer (None: no answer at all, a timeout or a refused connection)."""
    if status_code is None or status_code == 429 or status_code >= 500:
        return Verdict.RETRY
    if status_code >= 400:
        return Verdict.REJECTED
    return Verdict.ACCEPTED


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by Meta or Twilio)."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """How long to wait after the `attempts`-th failed try before the next one."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER_S)
    backoff = min(FIRST_RETRY_S * 2 ** min(max(attempts - 1, 0), 10), MAX_RETRY_S)
    return float(backoff * (0.5 + random.random() / 2))  # noqa: S311 (jitter, not security)


def outage_delay(failures: int) -> float:
    """The wait after the `failures`-th try that found a dependency down (≤ 1 s)."""
    return float(min(OUTAGE_FIRST_S * 2 ** min(max(failures - 1, 0), 10), OUTAGE_MAX_S))


@dataclass(frozen=True)
class SendFailure:
    """Why a reply is not (yet) sent: `reason` names it in ReplyFailed."""

    # provider_unavailable | provider_rejected | no_account | internal_error, a classified
    # provider code's reason (domain.delivery_errors), owner_human | owner_paused, window_closed
    reason: str
    status_code: int | None
    detail: str
    retry_after: float | None = None
    code: int | None = None  # the provider's error code, when it gave one

    @property
    def retryable(self) -> bool:
        return self.reason in ("provider_unavailable", "internal_error") or self.rate_limited

    @property
    def rate_limited(self) -> bool:
        return self.reason in RATE_REASONS


# A refusal for speed (130429, 131056) says "later", not "never": it may take many more
# tries than an outage before the reply is allowed out.
RATE_LIMITED_ATTEMPTS_FACTOR = 5


def final_failure(failure: SendFailure, attempts: int, max_attempts: int) -> bool:
    """Whether a failed try ends the reply (ReplyFailed) rather than waiting for another."""
    if failure.rate_limited:
        return attempts >= max_attempts * RATE_LIMITED_ATTEMPTS_FACTOR
    return not failure.retryable or attempts >= max_attempts
