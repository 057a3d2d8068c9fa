"""The turn poller: every replica claims due turns and answers each with one model call.

A turn is due when its conversation has been quiet long enough (domain/turns.py). The
poller checks who owns the conversation (a human or a pause: stored, not answered), whether
the customer asked for a human (handoff, no model call), then announces `TurnStarted`,
asks the model once with every message of the turn in order, and stores the reply only if
no message joined meanwhile (adapters/turns.py); otherwise the generation is superseded and
the turn, now holding everything, is generated again when due. The reply is published
after its transaction; a crash in between leaves the turn `replied`, which the next claim
re-announces. A failure follows the retry budget (the turn is deferred, never the
consumer's key) and ends in `ResponseFailed` for the turn's last message.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Histogram

from services.responder.adapters.groq_client import GroqClient
from services.responder.adapters.turns import ClaimedTurn, TurnStore
from services.responder.domain.conversation import BotReply, build_turn_prompt
from services.responder.domain.failures import (
    NO_CONFIG,
    UNDECRYPTABLE_KEY,
    Failure,
    GroqFailure,
    classify,
)
from services.responder.domain.groq_settings import GroqSettingsView, ResolvedGroq
from services.responder.domain.limits import Step
from services.responder.domain.outcomes import failed, turn_answered, turn_started
from services.responder.domain.retry import RetryPolicy
from services.responder.domain.turns import (
    HANDOFF_INSTRUCTION,
    TurnSettingsView,
    asks_for_human,
    failures_in_a_row,
    handoff_acknowledgement,
    read_model_answer,
)
from services.responder.entrypoints.key_failover import KeyFailover
from services.responder.entrypoints.limit_guard import Checked, LimitGuard, limit_failure
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    owner_key,
)
from shared.contracts.messages import ConfigSource, FailureReason
from shared.contracts.topics import CONVERSATION_OWNERS, MESSAGE_OUTCOMES
from shared.crypto import SecretBox, SecretBoxError
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish
from shared.views.conversation_owners import ConversationOwners

log = get_logger(__name__)
TURN_MESSAGES = Histogram(
    "responder_turn_messages",
    "Customer messages answered by one reply",
    buckets=(1, 2, 3, 4, 6, 8, 12, 20),
)
SUPERSEDED = Counter(
    "responder_generations_superseded_total",
    "Model answers not published because a message joined the turn meanwhile",
)
WINDOW_WAIT = Histogram(
    "responder_turn_window_seconds",
    "From a turn's first message to the start of its generation",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
TURNS = Counter("responder_turns_total", "Turns by how they ended", ["outcome"])


@dataclass(frozen=True)
class TurnPolicy:
    system_prompt: str
    default_base_url: str
    retry: RetryPolicy
    context_messages: int = 10
    context_window: timedelta = timedelta(hours=24)
    poll_interval_s: float = 0.2
    lease_s: float = 15.0
    max_concurrent: int = 32
    # This many failed turns in a row hand the conversation to a person (0: never).
    handoff_after_failures: int = 3


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AnswerTurns:
    """What one claimed turn becomes; `TurnPoller` feeds it (unit tests call it directly)."""

    store: TurnStore
    view: GroqSettingsView
    settings: TurnSettingsView
    owners: ConversationOwners
    groq: GroqClient
    box: SecretBox
    publish: Publish
    policy: TurnPolicy
    clock: Callable[[], datetime] = _now
    # Issue 16: the tenant's keys in priority order; shared with the per-message handler in
    # main.py so both see the same cooldowns. None: built from groq, box and publish.
    failover: KeyFailover | None = None
    limits: LimitGuard | None = None  # issue 16; None: no limits

    def __post_init__(self) -> None:
        self._pool = self.failover or KeyFailover(self.groq, self.box, self.publish)

    async def __call__(self, turn: ClaimedTurn) -> None:
        if not turn.messages:
            await self.store.finish(turn.turn_id, "skipped")
            return
        if turn.state == "replied":
            await self._reannounce(turn)
            return
        if not self._bot_answers(turn):
            await self._skip(turn, "a human or a pause owns the conversation")
            return
        texts = [m.event.text for m in turn.messages if m.event.text.strip()]
        if not texts:
            fallback = next((m.fallback_text for m in turn.messages if m.fallback_text), None)
            if fallback is None:
                await self._skip(turn, "nothing readable in the turn")
                return
            reply = BotReply(fallback, ConfigSource.NONE.value, "", None, None, self.clock())
            await self._store_and_publish(turn, reply)
            return
        if turn.user_id is not None and asks_for_human(
            texts, self.settings.of(turn.user_id).handoff_phrases
        ):
            await self._handoff(turn, texts)
            return
        resolved = self.view.resolve(turn.user_id)
        if resolved is None:
            await self._fail(turn, NO_CONFIG)
            return
        if self.limits is not None:
            checked = await self.limits.check(
                turn.last, resolved, first_try=turn.failures == 0, messages=len(turn.messages)
            )
            if checked.resolved is None:
                await self._over_limit(turn, checked)
                return
            resolved = checked.resolved
        await self._generate(turn, resolved)

    async def _over_limit(self, turn: ClaimedTurn, checked: Checked) -> None:
        """Issue 16: a flooding customer's turn fails (rate_limited, nothing sent); over
        the tenant's limit with no model left, the polite text and a person."""
        failure = limit_failure(checked.verdict)
        if checked.verdict.step is Step.FLOOD or checked.limits is None or turn.user_id is None:
            await self._fail(turn, failure)
            return
        polite = BotReply(
            checked.limits.polite_text, ConfigSource.NONE.value, "", None, None, self.clock()
        )
        if await self._store_and_publish(turn, polite):
            await self._hand_over(turn, turn.user_id, OwnerChangedBy.LIMIT_REACHED, failure.detail)

    async def failed_unexpectedly(self, turn: ClaimedTurn, error: Exception) -> None:
        """A bug or an outage mid-turn: retried within the budget like a Groq outage, then
        the turn's ResponseFailed, never retried forever."""
        detail = f"unexpected {type(error).__name__}"
        await self._retry_or_fail(turn, Failure(FailureReason.INTERNAL, True, detail))

    def _bot_answers(self, turn: ClaimedTurn) -> bool:
        if turn.user_id is None:
            return True
        return self.owners.current(turn.user_id, turn.conversation_key, self.clock()).bot_answers

    async def _generate(self, turn: ClaimedTurn, resolved: ResolvedGroq) -> None:
        now = self.clock()
        WINDOW_WAIT.observe(max((now - turn.first_at).total_seconds(), 0.0))
        last = turn.last
        await self.publish(
            [
                Outgoing(
                    MESSAGE_OUTCOMES,
                    turn_started(turn.last, turn.message_ids),
                    last.conversation_key,
                )
            ]
        )
        history = await self.store.history(
            turn, now - self.policy.context_window, self.policy.context_messages
        )
        try:
            answer = await self._pool.complete(
                resolved=resolved,
                user_id=turn.user_id,
                message_id=last.message_id,
                base_url=resolved.base_url or self.policy.default_base_url,
                messages=build_turn_prompt(
                    f"{self.policy.system_prompt}\n\n{HANDOFF_INSTRUCTION}",
                    history,
                    [m.event.text for m in turn.messages],
                ),
            )
        except GroqFailure as error:
            await self._retry_or_fail(turn, classify(error))
            return
        except SecretBoxError:
            await self._fail(turn, UNDECRYPTABLE_KEY)
            return
        completion = answer.completion
        said = read_model_answer(completion.text)
        texts = [m.event.text for m in turn.messages if m.event.text.strip()]
        reply = BotReply(
            content=said.reply or handoff_acknowledgement(texts),
            config_source=resolved.source.value,
            model=answer.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            created_at=self.clock(),
            key_id=answer.key_id,
            rate_limits=completion.rate_limits,
            fallback_reason=answer.fallback_reason,
        )
        if not self._bot_answers(turn):  # a human took over while the model ran
            await self._skip(turn, "the owner changed during the generation")
            return
        published = await self._store_and_publish(turn, reply)
        if published and self.limits is not None:
            tokens = (completion.prompt_tokens or 0) + (completion.completion_tokens or 0)
            await self.limits.spent(turn.user_id, tokens)
        if published and said.handoff and turn.user_id is not None:
            await self._hand_over(
                turn, turn.user_id, OwnerChangedBy.MODEL_HANDOFF, "the model handed off"
            )

    async def _store_and_publish(self, turn: ClaimedTurn, reply: BotReply) -> bool:
        stored = await self.store.store_reply(turn, reply, self.clock())
        if stored is None:
            SUPERSEDED.inc()
            log.info("generation superseded", turn_id=str(turn.turn_id), version=turn.version)
            return False
        await self._announce(turn, stored)
        return True

    async def _reannounce(self, turn: ClaimedTurn) -> None:
        stored = await self.store.stored_reply(turn)
        if stored is None:  # cannot happen: the row is written with the state
            await self.store.finish(turn.turn_id, "failed")
            return
        await self._announce(turn, stored, replayed=True)

    async def _announce(
        self, turn: ClaimedTurn, reply: BotReply, *, replayed: bool = False
    ) -> None:
        event = turn_answered(turn.last, reply, turn.message_ids)
        await self.publish([Outgoing(MESSAGE_OUTCOMES, event, turn.conversation_key)])
        await self.store.finish(turn.turn_id, "done")
        TURN_MESSAGES.observe(len(turn.messages))
        TURNS.labels("answered").inc()
        log.info(
            "turn answered",
            message_id=turn.last.message_id,
            messages=len(turn.messages),
            config_source=reply.config_source,
            replayed=replayed,
        )

    async def _handoff(self, turn: ClaimedTurn, texts: list[str]) -> None:
        assert turn.user_id is not None
        # The acknowledgement goes out first: a gateway that re-checks the owner before
        # sending should find the bot still answering for it.
        now = self.clock()
        ack = BotReply(handoff_acknowledgement(texts), ConfigSource.NONE.value, "", None, None, now)
        await self._store_and_publish(turn, ack)
        await self._hand_over(
            turn, turn.user_id, OwnerChangedBy.CUSTOMER_REQUEST, "the customer asked for a person"
        )

    async def _hand_over(
        self, turn: ClaimedTurn, user_id: uuid.UUID, by: OwnerChangedBy, reason: str
    ) -> None:
        now = self.clock()
        expiry = timedelta(seconds=self.settings.of(user_id).human_expiry_s)
        change = ConversationOwnerChanged(
            user_id=user_id,
            conversation_key=turn.conversation_key,
            owner=ConversationOwner.HUMAN,
            until=now + expiry,
            changed_by=by,
            message_id=turn.last.message_id,
            reason=reason,
        )
        await self.publish([Outgoing(CONVERSATION_OWNERS, change, owner_key(change))])
        self.owners.apply(change)  # this replica knows at once; the feed tells the others
        TURNS.labels(f"handoff_{by.value}").inc()
        log.info("conversation handed to a person", message_id=turn.last.message_id, by=by.value)

    async def _retry_or_fail(self, turn: ClaimedTurn, failure: Failure) -> None:
        now = self.clock()
        since = turn.failing_since or now
        wait = self.policy.retry.delay(
            failure,
            channel=turn.last.channel,
            retries=turn.failures,
            elapsed_s=(now - since).total_seconds(),
            spread=random.random(),  # noqa: S311 (jitter, not a secret)
        )
        if wait is None:
            await self._fail(turn, failure)
            return
        log.info("turn deferred", turn_id=str(turn.turn_id), detail=failure.detail, after_s=wait)
        await self.store.defer(turn, now + timedelta(seconds=wait), since)

    async def _fail(self, turn: ClaimedTurn, failure: Failure) -> None:
        event = failed(turn.last, failure)
        await self.publish([Outgoing(MESSAGE_OUTCOMES, event, turn.conversation_key)])
        await self.store.finish(turn.turn_id, "failed")
        TURNS.labels("failed").inc()
        log.warning(
            "turn not answered",
            message_id=turn.last.message_id,
            reason=failure.reason.value,
            detail=failure.detail,
        )
        limit = self.policy.handoff_after_failures
        if limit and turn.user_id is not None:
            states = await self.store.latest_states(turn.conversation_key, limit)
            if failures_in_a_row(states) >= limit:
                await self._hand_over(
                    turn,
                    turn.user_id,
                    OwnerChangedBy.REPEATED_FAILURES,
                    f"{limit} turns in a row could not be answered",
                )

    async def _skip(self, turn: ClaimedTurn, why: str) -> None:
        await self.store.finish(turn.turn_id, "skipped")
        TURNS.labels("not_answered").inc()
        log.info("turn not answered", message_id=turn.last.message_id, why=why)


@dataclass
class TurnPoller:
    """Claims due turns every `poll_interval_s` once `ready()` (the consumer caught up with
    its partitions, so a turn left by a crash is not answered before its last messages
    joined it) and runs each, renewing its lease while it runs."""

    store: TurnStore
    answer: AnswerTurns
    policy: TurnPolicy
    ready: Callable[[], bool]
    _task: asyncio.Task[None] | None = None
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="turn-poller")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:  # let running turns finish, bounded (their lease covers a crash)
            await asyncio.wait(self._running, timeout=10)
            for task in self._running:
                task.cancel()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            room = self.policy.max_concurrent - len(self._running)
            if room > 0 and self.ready():
                try:
                    for turn in await self.store.claim(datetime.now(UTC), room):
                        task = asyncio.create_task(self._one(turn))
                        self._running.add(task)
                        task.add_done_callback(self._running.discard)
                except Exception as exc:  # the database is down: try again next round
                    log.warning("claiming turns failed", error=type(exc).__name__)
            await asyncio.sleep(self.policy.poll_interval_s)

    async def _one(self, turn: ClaimedTurn) -> None:
        heartbeat = asyncio.create_task(self._renew(turn))
        started = time.monotonic()
        try:
            await self.answer(turn)
        except Exception as exc:
            log.exception("turn failed unexpectedly", turn_id=str(turn.turn_id))
            try:
                await self.answer.failed_unexpectedly(turn, exc)
            except Exception:  # the database is gone too: the lease ends, a claim retries
                log.warning("unexpected turn failure not recorded", turn_id=str(turn.turn_id))
        finally:
            heartbeat.cancel()
            log.debug("turn handled", seconds=round(time.monotonic() - started, 3))

    async def _renew(self, turn: ClaimedTurn) -> None:
        while True:
            await asyncio.sleep(self.policy.lease_s / 3)
            with contextlib.suppress(Exception):
                await self.store.renew(turn.turn_id, datetime.now(UTC))
