"""Which of a tenant's Groq keys to try next (issue 16). Pure: no clock, no I/O.

Groq's rate limits are per organization, so a 429's retry-after cools down every key of
that organization; a key without an organization label is its own organization. A 401/403
removes the key (it is reported invalid); 5xx/timeouts move on to the next key after the
caller's bounded retries. Not wired into the responder yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PoolKey:
    key_id: str
    priority: int  # lower first
    organization: str | None = None
    enabled: bool = True
    invalid: bool = False

    @property
    def bucket(self) -> str:
        return f"org:{self.organization}" if self.organization else f"key:{self.key_id}"


@dataclass(frozen=True)
class Choice:
    key: PoolKey | None  # None: wait `wait_s` (or nothing usable when wait_s is None)
    wait_s: float | None = None


def choose(
    keys: Sequence[PoolKey],
    cooling_until: Mapping[str, float],  # bucket -> monotonic time its retry-after ends
    now: float,
    skip: frozenset[str] = frozenset(),  # key ids already failed for this message
) -> Choice:
    usable = sorted(
        (k for k in keys if k.enabled and not k.invalid and k.key_id not in skip),
        key=lambda k: (k.priority, k.key_id),
    )
    if not usable:
        return Choice(None)
    for key in usable:
        if cooling_until.get(key.bucket, 0.0) <= now:
            return Choice(key)
    return Choice(None, min(cooling_until[k.bucket] for k in usable) - now)


def cool_down(
    cooling_until: Mapping[str, float], key: PoolKey, now: float, retry_after_s: float
) -> dict[str, float]:
    """The cooldowns after `key` answered 429 with `retry-after: retry_after_s`."""
    updated = dict(cooling_until)
    updated[key.bucket] = max(updated.get(key.bucket, 0.0), now + retry_after_s)
    return updated
