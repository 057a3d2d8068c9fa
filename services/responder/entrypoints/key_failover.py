"""A tenant's Groq call through its key pool (issue 16): keys in priority order
(domain/key_pool.py chooses), each failure published as a `GroqKeyFailed` fact.

- 401/403 → the key is skipped at once for this process (the config service marks it
  invalid and republishes the pool, so every replica skips it) and the next key is used;
- 429 → the key's organization cools for retry-after; a key of another organization is
  used at once, else the call fails with the shortest wait (the consumer's `RetryLater`);
- 5xx/timeouts → the next key at once (`same_key_retries` more tries on that key first);
  when no key is left the failure is retryable and the consumer's retry policy (bounded,
  with backoff) tries the pool again later;
- `model_decommissioned` (or a model the pool lists as unavailable) → the tenant's fallback
  model, else the system default, and the reply says why.
Cooldowns live in process memory on purpose: they are Groq's state, relearned from its next
429; a key's durable status is the config service's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context

from services.responder.adapters.groq_client import Completion, GroqClient
from services.responder.domain.failures import GroqFailure
from services.responder.domain.groq_settings import PoolMember, ResolvedGroq
from services.responder.domain.key_pool import choose, cool_down
from shared.contracts.groq_health import GroqKeyFailed, KeyFailureKind
from shared.contracts.messages import ConfigSource
from shared.contracts.topics import GROQ_HEALTH
from shared.crypto import SecretBox
from shared.groq_models import DEFAULT_CHAT_MODEL
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish

log = get_logger(__name__)
DEFAULT_COOL_S = 1.0  # a 429 without retry-after
ResponseFormatFor = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class PoolAnswer:
    completion: Completion
    key_id: str | None  # None: the system fallback
    model: str
    fallback_reason: str | None


def failure_kind(error: GroqFailure) -> KeyFailureKind:
    if error.status in (401, 403):
        return KeyFailureKind.INVALID_KEY
    if error.status == 429:
        return KeyFailureKind.RATE_LIMITED
    if error.code == "model_decommissioned":
        return KeyFailureKind.MODEL_DECOMMISSIONED
    if error.status is None or error.status >= 500 or error.status in (408, 409):
        return KeyFailureKind.UNAVAILABLE
    return KeyFailureKind.REJECTED


def _replacement(resolved: ResolvedGroq, model: str) -> str | None:
    for candidate in (resolved.fallback_model, DEFAULT_CHAT_MODEL):
        if candidate and candidate != model and candidate not in resolved.unavailable_models:
            return candidate
    return None


def planned_model(resolved: ResolvedGroq) -> tuple[str, str | None]:
    """The model a call starts with, and why it is not the tenant's (None: it is)."""
    model = resolved.account.model
    if model in resolved.unavailable_models and (other := _replacement(resolved, model)):
        return other, f"{model} is decommissioned; {other} answered"
    return model, None


@dataclass
class _Call:
    """One `complete` call's state across its tries."""

    resolved: ResolvedGroq
    members: dict[str, PoolMember]
    model: str
    reason: str | None  # why `model` is not the tenant's (None: it is)
    skip: set[str]
    scope: str
    cooling: dict[str, float]  # the scope's cooldowns, shared with its concurrent calls
    tries: dict[str, int] = field(default_factory=dict)
    last: GroqFailure | None = None


@dataclass
class KeyFailover:
    groq: GroqClient
    box: SecretBox
    publish: Publish
    same_key_retries: int = 0
    # Per tenant ("system" for the fallback): organization labels and the "groq-config" key
    # id are the tenant's own names, so two tenants' "acme" never share a cooldown.
    cooling_until: dict[str, dict[str, float]] = field(default_factory=dict)
    # Ciphertexts of keys a 401/403 removed here, until the config service's pool says so
    # (a replaced key has a new ciphertext, so it is tried again).
    refused: set[str] = field(default_factory=set)

    async def complete(
        self,
        *,
        resolved: ResolvedGroq,
        user_id: uuid.UUID | None,
        message_id: str,
        base_url: str,
        messages: Sequence[Mapping[str, str]],
        context: otel_context.Context | None = None,
        response_format: ResponseFormatFor | None = None,
    ) -> PoolAnswer:
        """`response_format` gives Groq's `response_format` for the model about to answer
        (None: plain text); a function, as a decommissioned model's replacement may not
        support the format the tenant's model did."""
        call = self._start(resolved, user_id)
        while True:
            member = self._next_member(call)
            try:
                completion = await self.groq.complete(
                    api_key=self.box.decrypt(member.api_key_encrypted),
                    base_url=base_url,
                    model=call.model,
                    temperature=resolved.account.temperature,
                    messages=messages,
                    response_format=response_format(call.model) if response_format else None,
                )
            except GroqFailure as error:
                call.last = error
                kind = failure_kind(error)
                await self._report(member, user_id, call.model, kind, error, message_id, context)
                self._absorb(call, member, kind, error)
                continue
            return self._answered(call, member, completion)

    def _start(self, resolved: ResolvedGroq, user_id: uuid.UUID | None) -> _Call:
        members = {m.key.key_id: m for m in resolved.members()}
        model, reason = planned_model(resolved)
        skip = {m.key.key_id for m in members.values() if m.api_key_encrypted in self.refused}
        scope = str(user_id) if user_id is not None else "system"
        started = time.monotonic()
        # shared with the tenant's concurrent calls (mutated in place); expired ones dropped
        cooling = self.cooling_until.setdefault(scope, {})
        for bucket in [b for b, until in cooling.items() if until <= started]:
            del cooling[bucket]
        return _Call(resolved, members, model, reason, skip, scope, cooling)

    @staticmethod
    def _next_member(call: _Call) -> PoolMember:
        """The key to try next; raises the call's failure when none is left."""
        now = time.monotonic()
        keys = [m.key for m in call.members.values()]
        choice = choose(keys, call.cooling, now, frozenset(call.skip))
        if choice.key is None:
            if choice.wait_s is not None:
                raise GroqFailure(429, retry_after_s=max(choice.wait_s, 0.0))
            raise call.last or GroqFailure(401)
        return call.members[choice.key.key_id]

    def _absorb(
        self, call: _Call, member: PoolMember, kind: KeyFailureKind, error: GroqFailure
    ) -> None:
        """What one key's failure changes for the rest of the call; raises `error` when
        no other key or model can help."""
        if kind is KeyFailureKind.INVALID_KEY:
            self.refused.add(member.api_key_encrypted)
            call.skip.add(member.key.key_id)
        elif kind is KeyFailureKind.RATE_LIMITED:
            wait = error.retry_after_s if error.retry_after_s is not None else DEFAULT_COOL_S
            call.cooling.update(cool_down(call.cooling, member.key, time.monotonic(), wait))
            call.skip.add(member.key.key_id)  # never twice per call, even with retry-after 0
        elif kind is KeyFailureKind.MODEL_DECOMMISSIONED:
            other = _replacement(call.resolved, call.model)
            if other is None or call.reason is not None:
                raise error
            call.model, call.reason = other, f"{call.model} is decommissioned; {other} answered"
        elif kind is KeyFailureKind.UNAVAILABLE:
            call.tries[member.key.key_id] = call.tries.get(member.key.key_id, 0) + 1
            if call.tries[member.key.key_id] > self.same_key_retries:
                call.skip.add(member.key.key_id)
        else:
            raise error

    def _answered(self, call: _Call, member: PoolMember, completion: Completion) -> PoolAnswer:
        call.cooling.pop(member.key.bucket, None)
        if not call.cooling and self.cooling_until.get(call.scope) is call.cooling:
            del self.cooling_until[call.scope]
        fallback = call.resolved.source is ConfigSource.FALLBACK
        key_id = None if fallback else member.key.key_id
        return PoolAnswer(completion, key_id, call.model, call.reason)

    async def _report(
        self,
        member: PoolMember,
        user_id: uuid.UUID | None,
        model: str,
        kind: KeyFailureKind,
        error: GroqFailure,
        message_id: str,
        context: otel_context.Context | None,
    ) -> None:
        event = GroqKeyFailed(
            user_id=user_id,
            key_id=member.key.key_id,
            model=model,
            kind=kind,
            status=error.status,
            code=(error.code or "")[:100] or None,
            retry_after_s=error.retry_after_s,
            message_id=message_id,
        )
        key = str(user_id) if user_id is not None else "system"
        try:
            await self.publish([Outgoing(GROQ_HEALTH, event, key, context)])
        except Exception as exc:  # a fact lost is a status late, never a reply lost
            log.warning("key health not published", error=type(exc).__name__, kind=kind.value)
        log.info(
            "groq key failed",
            key_id=member.key.key_id,
            kind=kind.value,
            status=error.status,
            message_id=message_id,
        )
