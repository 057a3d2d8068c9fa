"""Limits on the answering path (issue 16): count the message, decide (domain/limits.py),
and say which configuration answers it, or that none does.

The per-message path counts with the statements that store the message and its reply
(`counting` and `tokens` say what to add, `decided` reads the counts the admission
returned). A turn counts its messages with a statement of its own (`check`: no statement
of the turn path stores them before the model call) and its tokens with its reply's row
(`tokens`). A tenant without limits costs neither a statement nor a lookup beyond a dict.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from services.responder.adapters.counters import LimitCounters
from services.responder.domain.failures import Failure
from services.responder.domain.groq_settings import GroqSettingsView, ResolvedGroq
from services.responder.domain.limits import (
    Counts,
    Increment,
    Limits,
    LimitsView,
    Step,
    Verdict,
    admission_increments,
    decide,
    token_increment,
    turn_increments,
)
from services.responder.domain.outcomes import failed
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
)
from shared.contracts.messages import ConfigSource, FailureReason, ResponseFailed, UserIdentified
from shared.logging import get_logger

log = get_logger(__name__)
LIMITED = Counter("responder_limit_steps_total", "Messages over a limit, by step", ["step"])


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    limits: Limits | None
    resolved: ResolvedGroq | None  # None: not answered by a model (verdict says why)

    @property
    def stopped(self) -> bool:
        return self.resolved is None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LimitGuard:
    limits: LimitsView
    view: GroqSettingsView
    counters: LimitCounters
    clock: Callable[[], datetime] = field(default=_now)

    def counting(self, message: UserIdentified, *, counts_if_seen: bool) -> list[Increment]:
        """What storing the message adds to its tenant's counters (none: no limit applies);
        `counts_if_seen`: count it even if its row was stored before (a voice note's
        transcript row, stored before its first answer)."""
        if message.user_id is None or self.limits.of(message.user_id) is None:
            return []
        return admission_increments(
            message.user_id, message.customer_phone, self.clock(), counts_if_seen=counts_if_seen
        )

    def decided(
        self, message: UserIdentified, resolved: ResolvedGroq, counts: Sequence[int]
    ) -> Checked:
        """The verdict on the counts storing the message returned (in `counting` order)."""
        limits = self.limits.of(message.user_id)
        if limits is None or len(counts) != 3:
            return Checked(Verdict(Step.ANSWER, "", 0), None, resolved)
        tenant, customer, tokens = counts
        return self._verdict(message, resolved, limits, Counts(tenant, customer, tokens))

    def tokens(self, user_id: uuid.UUID | None, tokens: int | None) -> list[Increment]:
        """What storing a reply adds: the tokens it spent, if a daily budget applies."""
        limits = self.limits.of(user_id)
        if limits is None or limits.tokens_per_day is None or user_id is None or not tokens:
            return []
        return [token_increment(user_id, tokens, self.clock())]

    async def check(
        self, message: UserIdentified, message_ids: Sequence[str], resolved: ResolvedGroq
    ) -> Checked:
        """A turn's count (its own statement): `message`, the one answered (the turn's
        last); `message_ids`, the turn's messages, each counted the first time only (a
        turn claimed again after a supersession, a retry or a crash adds only new ones)."""
        limits = self.limits.of(message.user_id)
        if limits is None or message.user_id is None:
            return Checked(Verdict(Step.ANSWER, "", 0), None, resolved)
        increments = turn_increments(
            message.user_id, message.customer_phone, message_ids, self.clock()
        )
        counts = await self.counters.add(increments)
        tenant, customer, tokens = counts[0], counts[1], counts[-1]
        return self._verdict(message, resolved, limits, Counts(tenant, customer, tokens))

    def _verdict(
        self, message: UserIdentified, resolved: ResolvedGroq, limits: Limits, counts: Counts
    ) -> Checked:
        now = self.clock()
        system = self.view.resolve(None) if resolved.source is ConfigSource.USER else None
        verdict = decide(
            limits,
            counts,
            now,
            cheaper_model=bool(resolved.cheaper_model),
            system_fallback=system is not None,
        )
        if verdict.step is not Step.ANSWER:
            LIMITED.labels(verdict.step.value).inc()
            log.info(
                "message over a limit",
                message_id=message.message_id,
                step=verdict.step.value,
                reason=verdict.reason,
            )
        return Checked(verdict, limits, _answering(verdict, resolved, system))


def _answering(
    verdict: Verdict, resolved: ResolvedGroq, system: ResolvedGroq | None
) -> ResolvedGroq | None:
    if verdict.step is Step.ANSWER:
        return resolved
    if verdict.step is Step.CHEAPER_MODEL and resolved.cheaper_model:
        return replace(resolved, account=replace(resolved.account, model=resolved.cheaper_model))
    if verdict.step is Step.SYSTEM_FALLBACK:
        return system
    return None


def refused_over_limit(message: UserIdentified, checked: Checked) -> ResponseFailed:
    """The rate_limited failure a flooding customer or a generic-API caller gets: the
    gateway answers 429 with the polite text and Retry-After."""
    assert checked.limits is not None
    return failed(message, limit_failure(checked.verdict)).model_copy(
        update={
            "retry_after_s": checked.verdict.retry_after_s,
            "customer_text": checked.limits.polite_text,
        }
    )


def limit_failure(verdict: Verdict) -> Failure:
    return Failure(FailureReason.RATE_LIMITED, True, verdict.reason, float(verdict.retry_after_s))


def handed_to_person(
    message: UserIdentified, user_id: uuid.UUID, expiry_s: int, reason: str, now: datetime
) -> ConversationOwnerChanged:
    """The flag for a human: the conversation is theirs (the timeline and the
    conversations list show it) until the tenant's usual human expiry."""
    return ConversationOwnerChanged(
        user_id=user_id,
        conversation_key=message.conversation_key,
        owner=ConversationOwner.HUMAN,
        until=now + timedelta(seconds=expiry_s),
        changed_by=OwnerChangedBy.LIMIT_REACHED,
        message_id=message.message_id,
        reason=reason,
    )
