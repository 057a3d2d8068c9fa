"""Limits and budgets (issue 16): which limits apply to a tenant, what the counters say and
what to do over a limit. Pure: the counts come from the statements that store the message
and its reply (adapters/conversations.py) or, for a turn, from adapters/counters.py.

Over the tenant's messages per minute or tokens per day the answer degrades instead of
going silent: the tenant's cheaper model (if set and allowed) → the system fallback (if the
tenant's limits allow it and the administrator enabled it) → the polite text, and the
conversation goes to a person. A customer over the flood guard is not answered until the
minute ends; the tenant's other customers are not touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts.config_events import ConfigEvent, TenantLimitsChanged

MINUTE_S = 60
DAY_S = 86_400


@dataclass(frozen=True)
class Limits:
    messages_per_minute: int | None
    tokens_per_day: int | None
    flood_per_minute: int | None
    use_cheaper_model: bool
    use_system_fallback: bool
    polite_text: str

    @property
    def counted(self) -> bool:
        """False: nothing to count, and so no statement at all for the tenant's messages."""
        return any(
            limit is not None
            for limit in (self.messages_per_minute, self.tokens_per_day, self.flood_per_minute)
        )


def limits_of(event: TenantLimitsChanged) -> Limits:
    return Limits(
        messages_per_minute=event.messages_per_minute,
        tokens_per_day=event.tokens_per_day,
        flood_per_minute=event.flood_per_minute,
        use_cheaper_model=event.use_cheaper_model,
        use_system_fallback=event.use_system_fallback,
        polite_text=event.polite_text,
    )


class LimitsView:
    """The limits from the config feed: a tenant's own, else the system default."""

    def __init__(self) -> None:
        self._tenants: dict[uuid.UUID, Limits] = {}
        self._system: Limits | None = None

    def apply(self, event: ConfigEvent) -> None:
        if not isinstance(event, TenantLimitsChanged):
            return
        if event.user_id is None:
            self._system = limits_of(event)
        elif event.inherits:
            self._tenants.pop(event.user_id, None)
        else:
            self._tenants[event.user_id] = limits_of(event)

    def of(self, user_id: uuid.UUID | None) -> Limits | None:
        """None: no limit applies (messages without a tenant are not counted)."""
        if user_id is None:
            return None
        limits = self._tenants.get(user_id, self._system)
        return limits if limits is not None and limits.counted else None


@dataclass(frozen=True)
class Counts:
    """What the counters hold once this message is counted (it included)."""

    tenant_minute: int
    customer_minute: int
    tenant_day_tokens: int


class Step(StrEnum):
    ANSWER = "answer"  # within the limits
    CHEAPER_MODEL = "cheaper_model"
    SYSTEM_FALLBACK = "system_fallback"
    POLITE_TEXT = "polite_text"  # nothing left to answer with: the text and a person
    FLOOD = "flood"  # this customer is over the flood guard: not answered


@dataclass(frozen=True)
class Verdict:
    step: Step
    reason: str  # operator-facing: which limit
    retry_after_s: int  # when the limit that stopped it frees up (0: not stopped)


def over_limit(limits: Limits, counts: Counts) -> str | None:
    """Which tenant-wide limit the message is over, if any."""
    if limits.messages_per_minute is not None and counts.tenant_minute > limits.messages_per_minute:
        return f"over {limits.messages_per_minute} messages per minute"
    if limits.tokens_per_day is not None and counts.tenant_day_tokens >= limits.tokens_per_day:
        return f"over {limits.tokens_per_day} tokens per day"
    return None


def decide(
    limits: Limits,
    counts: Counts,
    now: datetime,
    *,
    cheaper_model: bool,
    system_fallback: bool,
) -> Verdict:
    """`cheaper_model`: the tenant has one; `system_fallback`: the administrator's fallback
    is configured and enabled."""
    if limits.flood_per_minute is not None and counts.customer_minute > limits.flood_per_minute:
        reason = f"customer over {limits.flood_per_minute} messages per minute"
        return Verdict(Step.FLOOD, reason, seconds_to_next_minute(now))
    over = over_limit(limits, counts)
    if over is None:
        return Verdict(Step.ANSWER, "", 0)
    reason = over
    if limits.use_cheaper_model and cheaper_model:
        return Verdict(Step.CHEAPER_MODEL, reason, 0)
    if limits.use_system_fallback and system_fallback:
        return Verdict(Step.SYSTEM_FALLBACK, reason, 0)
    tokens = limits.tokens_per_day is not None and counts.tenant_day_tokens >= limits.tokens_per_day
    wait = seconds_to_next_day(now) if tokens else seconds_to_next_minute(now)
    return Verdict(Step.POLITE_TEXT, reason, wait)


def minute_bucket(now: datetime) -> int:
    return int(now.timestamp()) // MINUTE_S


def day_bucket(now: datetime) -> int:
    return int(now.timestamp()) // DAY_S


def seconds_to_next_minute(now: datetime) -> int:
    return max(1, MINUTE_S - int(now.timestamp()) % MINUTE_S)


def seconds_to_next_day(now: datetime) -> int:
    return max(1, DAY_S - int(now.timestamp()) % DAY_S)


@dataclass(frozen=True)
class Increment:
    """`add`: what the message adds when its row is new; `add_if_seen`: when its row was
    already stored (a redelivery or a retry: 0, it was counted when stored; a voice note's
    row is stored with its transcript before it is answered, so its first try adds)."""

    scope: str
    bucket: int
    add: int
    expires_at: datetime
    add_if_seen: int = 0
    # A turn's (adapters/counters.py): added only the first time this mark (its message's)
    # is seen, so a turn claimed again (superseded, a crash) counts only its new messages.
    once: str | None = None


def tenant_scope(user_id: uuid.UUID) -> str:
    return f"t:{user_id}"


def customer_scope(user_id: uuid.UUID, customer: str) -> str:
    return f"c:{user_id}:{customer}"


def tokens_scope(user_id: uuid.UUID) -> str:
    return f"d:{user_id}"


def message_increments(
    user_id: uuid.UUID, customer: str, now: datetime, *, first_try: bool
) -> list[Increment]:
    """The message's three counters: the tenant's and the customer's minute (+1 on its
    first try; a retry adds 0 and reads them), the tenant's day tokens (+0: what earlier
    calls spent)."""
    add = 1 if first_try else 0
    minute, day = minute_bucket(now), day_bucket(now)
    minute_expiry = now + timedelta(minutes=2)
    return [
        Increment(tenant_scope(user_id), minute, add, minute_expiry),
        Increment(customer_scope(user_id, customer), minute, add, minute_expiry),
        Increment(tokens_scope(user_id), day, 0, now + timedelta(days=2)),
    ]


def admission_increments(
    user_id: uuid.UUID, customer: str, now: datetime, *, counts_if_seen: bool
) -> list[Increment]:
    """The message's three counters as stored with its row: +1 on the tenant's and the
    customer's minute when the row is new (or, `counts_if_seen`, even if it was stored
    before), +0 on the day's tokens (read back)."""
    seen = 1 if counts_if_seen else 0
    return [
        replace(increment, add_if_seen=seen * increment.add)
        for increment in message_increments(user_id, customer, now, first_try=True)
    ]


def message_mark(message_id: str) -> str:
    return f"m:{message_id}"


def turn_increments(
    user_id: uuid.UUID, customer: str, message_ids: Sequence[str], now: datetime
) -> list[Increment]:
    """A turn's counters: +1 on the tenant's and the customer's minute for each of its
    messages not counted before (`once`), +0 on the day's tokens; the counts come back
    in that order (the tenant's first, the customer's second, the tokens last)."""
    minute = minute_bucket(now)
    expiry = now + timedelta(minutes=2)
    increments = []
    for message_id in message_ids:
        mark = message_mark(message_id)
        increments += [
            Increment(tenant_scope(user_id), minute, 1, expiry, once=mark),
            Increment(customer_scope(user_id, customer), minute, 1, expiry, once=mark),
        ]
    return [
        *increments,
        Increment(tokens_scope(user_id), day_bucket(now), 0, now + timedelta(days=2)),
    ]


def token_increment(user_id: uuid.UUID, tokens: int, now: datetime) -> Increment:
    return Increment(tokens_scope(user_id), day_bucket(now), tokens, now + timedelta(days=2))
