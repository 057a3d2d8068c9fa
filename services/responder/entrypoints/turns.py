"""A claimed turn's answer (turn_poller.py claims due turns on every replica): the owner
and a handoff request checked first, then `TurnStarted`, one model call over the turn's
messages in order, the reply stored only if no message joined meanwhile (else superseded
and generated again when due) and published after its transaction (a crash in between
leaves the turn `replied`, re-announced by the next claim). Failures follow the retry
budget and end in `ResponseFailed` for the turn's last message.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

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
from services.responder.domain.limits import Increment, Step
from services.responder.domain.outcomes import failed, turn_answered, turn_started
from services.responder.domain.turns import (
    TurnSettingsView,
    asks_for_human,
    failures_in_a_row,
    handoff_acknowledgement,
    handoff_instruction,
    read_model_answer,
    turn_answer_format,
)
from services.responder.entrypoints.handover import HandOver
from services.responder.entrypoints.key_failover import KeyFailover, PoolAnswer, planned_model
from services.responder.entrypoints.limit_guard import Checked, LimitGuard, limit_failure
from services.responder.entrypoints.turn_metrics import (
    SUPERSEDED,
    TURN_MESSAGES,
    TURNS,
    WINDOW_WAIT,
)
from services.responder.entrypoints.turn_policy import TurnPolicy
from services.responder.entrypoints.turn_poller import TurnPoller
from shared.contracts.conversations import OwnerChangedBy
from shared.contracts.messages import ConfigSource, FailureReason
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.crypto import SecretBox, SecretBoxError
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish
from shared.views.conversation_owners import ConversationOwners

log = get_logger(__name__)
# Split out of this module; importable from here as before.
__all__ = ["AnswerTurns", "TurnPolicy", "TurnPoller"]


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
    clock: Callable[[], datetime] = field(default=partial(datetime.now, UTC))
    # Issue 16: the tenant's keys in priority order; shared with the per-message handler in
    # main.py so both see the same cooldowns. None: built from groq, box and publish.
    failover: KeyFailover | None = None
    limits: LimitGuard | None = None  # issue 16; None: no limits

    def __post_init__(self) -> None:
        self._pool = self.failover or KeyFailover(self.groq, self.box, self.publish)
        self._hand_over = HandOver(self.publish, self.owners, self.settings, self.clock)

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
            checked = await self.limits.check(turn.last, turn.message_ids, resolved)
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
        started = turn_started(turn.last, turn.message_ids)
        await self.publish([Outgoing(MESSAGE_OUTCOMES, started, turn.last.conversation_key)])
        if (answer := await self._ask_model(turn, resolved, now)) is None:
            return
        completion = answer.completion
        said = read_model_answer(completion.text)
        reply = self._reply(turn, resolved, answer, said.reply)
        if not self._bot_answers(turn):  # a human took over while the model ran
            await self._skip(turn, "the owner changed during the generation")
            return
        spent = None
        if self.limits is not None:  # counted with the reply's row, once
            tokens = (completion.prompt_tokens or 0) + (completion.completion_tokens or 0)
            spent = next(iter(self.limits.tokens(turn.user_id, tokens)), None)
        published = await self._store_and_publish(turn, reply, spent)
        if published and said.handoff and turn.user_id is not None:
            await self._hand_over(
                turn, turn.user_id, OwnerChangedBy.MODEL_HANDOFF, "the model handed off"
            )

    async def _ask_model(
        self, turn: ClaimedTurn, resolved: ResolvedGroq, now: datetime
    ) -> PoolAnswer | None:
        """The model's answer over the turn and its history; None: the failure is handled."""
        history = await self.store.history(
            turn, now - self.policy.context_window, self.policy.context_messages
        )
        instruction = handoff_instruction(planned_model(resolved)[0])
        try:
            return await self._pool.complete(
                resolved=resolved,
                user_id=turn.user_id,
                message_id=turn.last.message_id,
                base_url=resolved.base_url or self.policy.default_base_url,
                messages=build_turn_prompt(
                    f"{self.policy.system_prompt}\n\n{instruction}",
                    history,
                    [m.event.text for m in turn.messages],
                ),
                # structured where the model can; read_model_answer reads plain text too
                response_format=turn_answer_format,
            )
        except GroqFailure as error:
            await self._retry_or_fail(turn, classify(error))
        except SecretBoxError:
            await self._fail(turn, UNDECRYPTABLE_KEY)
        return None

    def _reply(
        self, turn: ClaimedTurn, resolved: ResolvedGroq, answer: PoolAnswer, said: str
    ) -> BotReply:
        texts = [m.event.text for m in turn.messages if m.event.text.strip()]
        return BotReply(
            content=said or handoff_acknowledgement(texts),
            config_source=resolved.source.value,
            model=answer.model,
            prompt_tokens=answer.completion.prompt_tokens,
            completion_tokens=answer.completion.completion_tokens,
            created_at=self.clock(),
            key_id=answer.key_id,
            rate_limits=answer.completion.rate_limits,
            fallback_reason=answer.fallback_reason,
        )

    async def _store_and_publish(
        self, turn: ClaimedTurn, reply: BotReply, spent: Increment | None = None
    ) -> bool:
        stored = await self.store.store_reply(turn, reply, self.clock(), spent)
        if stored is None:
            SUPERSEDED.inc()
            log.info("generation superseded", turn_id=str(turn.turn_id), version=turn.version)
            return False
        event = turn_answered(turn.last, stored, turn.message_ids)
        await self.publish([Outgoing(MESSAGE_OUTCOMES, event, turn.conversation_key)])
        await self._answered(turn, stored, replayed=False)
        return True

    async def _reannounce(self, turn: ClaimedTurn) -> None:
        stored = await self.store.stored_reply(turn)
        if stored is None:  # cannot happen: the row is written with the state
            await self.store.finish(turn.turn_id, "failed")
            return
        event = turn_answered(turn.last, stored, turn.message_ids)
        await self.publish([Outgoing(MESSAGE_OUTCOMES, event, turn.conversation_key)])
        await self._answered(turn, stored, replayed=True)

    async def _answered(self, turn: ClaimedTurn, reply: BotReply, replayed: bool) -> None:
        """After its reply is published: the turn is done."""
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
