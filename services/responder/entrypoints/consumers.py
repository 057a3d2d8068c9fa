"""UserIdentified (and MediaResolved) in, ResponseGenerated or ResponseFailed out, one
record at a time, concurrently; statements and publishes of concurrent records are shared
(group commit). Idempotent by message id: a stored reply is re-announced, never asked again.
With turn assembly (WhatsApp or Twilio, quiet window above 0) a message only joins its
turn (adapters/turns.py), which entrypoints/turns.py answers. A retryable Groq failure
raises `RetryLater` (a timer, no in-flight slot); while a key waits out a 429 its other
conversations wait too, then one call probes for all (domain/rate_gate.py).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.responder.adapters.conversations import ConversationStore
from services.responder.adapters.groq_client import GroqClient
from services.responder.adapters.turns import TurnStore
from services.responder.domain.conversation import Admission, BotReply, build_prompt
from services.responder.domain.failures import (
    NO_CONFIG,
    UNDECRYPTABLE_KEY,
    Failure,
    GroqFailure,
    classify,
)
from services.responder.domain.groq_settings import GroqSettingsView, ResolvedGroq
from services.responder.domain.limits import Increment, Step
from services.responder.domain.media import polite_text, spoken_message
from services.responder.domain.rate_gate import RateGate
from services.responder.domain.turns import TurnSettingsView, assembles
from services.responder.entrypoints.answer_common import (
    GROQ_LATENCY,
    MEDIA_WITHOUT_TEXT,
    OUTCOMES,
    RETRIES,
    AnswerSettings,
    Inbound,
    record_usage,
)
from services.responder.entrypoints.key_failover import KeyFailover
from services.responder.entrypoints.limit_guard import (
    Checked,
    LimitGuard,
    handed_to_person,
    limit_failure,
    refused_over_limit,
)
from services.responder.entrypoints.message_outcomes import announce_answered, announce_failed
from shared.consumer import Received, RetryLater
from shared.contracts.conversations import owner_key
from shared.contracts.media import MediaResolved
from shared.contracts.messages import Channel, ConfigSource, FailureReason, UserIdentified
from shared.contracts.topics import CONVERSATION_OWNERS, MESSAGE_OUTCOMES
from shared.crypto import SecretBox, SecretBoxError
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish

log = get_logger(__name__)


@dataclass
class AnswerMessages:
    view: GroqSettingsView
    store: ConversationStore
    groq: GroqClient
    box: SecretBox
    publish: Publish
    settings: AnswerSettings
    gate: RateGate = field(default_factory=RateGate)
    # Turn assembly (entrypoints/turns.py answers the turns): None = a reply per message.
    turns: TurnStore | None = None
    turn_settings: TurnSettingsView = field(default_factory=TurnSettingsView)
    failover: KeyFailover | None = None  # None: built from groq, box and publish
    limits: LimitGuard | None = None  # issue 16; None: no limits

    def __post_init__(self) -> None:
        self._pool = self.failover or KeyFailover(self.groq, self.box, self.publish)

    async def __call__(self, item: Received[Inbound]) -> None:
        if isinstance(item.event, MediaResolved):
            await self._media(item, item.event)
        else:
            await self._answer(item.carrying(item.event))

    async def _media(self, item: Received[Inbound], resolved: MediaResolved) -> None:
        """A voice note's transcript is answered as the customer's text; an item the bot
        cannot read gets the tenant's polite text, without a model call."""
        spoken = spoken_message(resolved)
        if spoken is not None:
            await self.store.transcribe(spoken)
        if self.turns is not None and resolved.message is not None:
            held = await self.turns.resolve_media(
                resolved.message.message_id,
                spoken.text if spoken is not None else None,
                polite_text(resolved),
                self.turn_settings.of(resolved.message.user_id),
                datetime.now(UTC),
            )
            if held:  # its turn answers it, in arrival order with the turn's other messages
                return
        if spoken is not None:
            await self._answer(item.carrying(spoken), transcript=True)
            return
        text, message = polite_text(resolved), resolved.message
        if text is None or message is None:
            return
        answering = item.carrying(message)
        admission = await self.store.admit(message)
        if admission.prior is not None:
            await announce_answered(self.publish, answering, admission.prior, replayed=True)
            return
        polite = BotReply(text, ConfigSource.NONE.value, "", None, None, resolved.occurred_at)
        stored = await self.store.save_reply(message, polite)
        await announce_answered(self.publish, answering, stored, replayed=False)

    async def _answer(self, item: Received[UserIdentified], *, transcript: bool = False) -> None:
        """`transcript`: a voice note's text, its row stored with the transcript already."""
        message = item.event
        resolved = self._resolve(item)
        settings = self.turn_settings.of(message.user_id)
        in_turn = self.turns is not None and assembles(message, settings)
        if resolved is not None and not in_turn:
            self._wait_while_limited(item, resolved)
        unread_media = message.media is not None and not message.text.strip()
        answered_here = resolved is not None and not in_turn and not unread_media
        # Issue 16: counted by the statement storing the message, only if it is answered here
        # (a turn counts its own; a media item without text is not answered) and once (a
        # redelivery finds its row; a voice note's row was stored with its transcript).
        first = transcript and item.delivery == 1
        counting = (
            self.limits.counting(message, counts_if_seen=first)
            if answered_here and self.limits is not None
            else []
        )
        admission = await self.store.admit(message, counting)
        if admission.prior is not None:
            await announce_answered(self.publish, item, admission.prior, replayed=True)
            return
        if in_turn and self.turns is not None:
            # The table is the state: once joined, the record's offset may be committed.
            joined = await self.turns.join(message, settings, datetime.now(UTC))
            log.debug("message joined its turn", message_id=message.message_id, new=joined)
            return
        if unread_media:
            # Nothing to answer yet: the media service publishes what the item says
            # (messages.media.v1); answering an empty text would make up a reply.
            MEDIA_WITHOUT_TEXT.inc()
            log.info("media without text not answered", message_id=message.message_id)
            return
        if resolved is None:
            await announce_failed(self.publish, item, NO_CONFIG)
            return
        if self.limits is not None and counting:
            checked = self.limits.decided(message, resolved, admission.counts)
            if checked.resolved is None:
                await self._over_limit(item, checked)
                return
            resolved = checked.resolved
        stored = await self._stored_reply(item, resolved, admission)
        if stored is not None:
            await announce_answered(self.publish, item, stored, replayed=False)

    async def _stored_reply(
        self, item: Received[UserIdentified], resolved: ResolvedGroq, admission: Admission
    ) -> BotReply | None:
        """Ask the model and store its reply (the tokens counted with the row); None when
        there is none (the failure is announced, or `RetryLater` raised)."""
        message = item.event
        key = resolved.account.api_key_encrypted
        try:
            reply = await self._ask_groq(item, resolved, admission)
        except GroqFailure as error:
            await self._key_failed(item, key, classify(error))
            return None
        except SecretBoxError:
            await announce_failed(self.publish, item, UNDECRYPTABLE_KEY)
            return None
        self.gate.opened(key)
        spent: list[Increment] = []
        if self.limits is not None:  # counted with the reply's row, once
            tokens = (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)
            spent = self.limits.tokens(message.user_id, tokens)
        return await self.store.save_reply(message, reply, spent)

    async def _over_limit(self, item: Received[UserIdentified], checked: Checked) -> None:
        """A flooding customer or an API caller: 429; else the polite text and a person."""
        message, limits = item.event, checked.limits
        assert limits is not None and message.user_id is not None
        failure = limit_failure(checked.verdict)
        if checked.verdict.step is Step.FLOOD or message.channel is Channel.API:
            event = refused_over_limit(message, checked)
            OUTCOMES.labels(failure.reason.value, "none").inc()
            await self.publish(
                [Outgoing(MESSAGE_OUTCOMES, event, message.conversation_key, item.context)]
            )
            return
        now = datetime.now(UTC)
        polite = BotReply(limits.polite_text, ConfigSource.NONE.value, "", None, None, now)
        await announce_answered(
            self.publish, item, await self.store.save_reply(message, polite), replayed=False
        )
        expiry = self.turn_settings.of(message.user_id).human_expiry_s
        change = handed_to_person(message, message.user_id, expiry, failure.detail, now)
        await self.publish([Outgoing(CONVERSATION_OWNERS, change, owner_key(change))])

    def _wait_while_limited(self, item: Received[UserIdentified], resolved: ResolvedGroq) -> None:
        """Raise `RetryLater` while the key waits out a rate limit (no statement, no call),
        unless the retry policy says this message must make its last try now."""
        wait = self.gate.wait_s(resolved.account.api_key_encrypted, time.monotonic())
        if wait is None:
            return
        failure = Failure(FailureReason.PROVIDER_UNAVAILABLE, True, "Groq key rate-limited", wait)
        delay = self._delay(item, failure)
        if delay is not None:
            RETRIES.labels("rate_limited_key").inc()
            raise RetryLater(failure.detail, after_s=delay)

    async def _ask_groq(
        self, item: Received[UserIdentified], resolved: ResolvedGroq, admission: Admission
    ) -> BotReply:
        message = item.event
        log.debug("asking Groq", source=resolved.source.value, message_id=message.message_id)
        started = time.perf_counter()
        try:
            # Issue 16: the tenant's keys in priority order (entrypoints/key_failover.py).
            answer = await self._pool.complete(
                resolved=resolved,
                user_id=message.user_id,
                message_id=message.message_id,
                base_url=resolved.base_url or self.settings.default_base_url,
                messages=build_prompt(self.settings.system_prompt, admission.history, message.text),
                context=item.context,
            )
        finally:
            GROQ_LATENCY.observe(time.perf_counter() - started)
        completion = answer.completion
        tenant = str(message.user_id) if resolved.source == ConfigSource.USER else "fallback"
        record_usage(item.span, tenant, answer.model, completion)
        return BotReply(
            content=completion.text,
            config_source=resolved.source.value,
            model=answer.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            created_at=datetime.now(UTC),
            key_id=answer.key_id,
            rate_limits=completion.rate_limits,
            fallback_reason=answer.fallback_reason,
        )

    def _resolve(self, item: Received[UserIdentified]) -> ResolvedGroq | None:
        """The tenant's Groq settings; the span says whose message and which settings."""
        item.span.set_attribute("app.message_id", item.event.message_id)
        if item.event.user_id:
            item.span.set_attribute("app.user_id", str(item.event.user_id))
        resolved = self.view.resolve(item.event.user_id)
        item.span.set_attribute("app.config_source", resolved.source if resolved else "none")
        return resolved

    async def _key_failed(self, item: Received[UserIdentified], key: str, failure: Failure) -> None:
        """The key's gate learns the failure (a wait, or open again); retry or fail."""
        if failure.after_s is not None:
            self.gate.limited(key, time.monotonic(), failure.after_s)
        elif not failure.retryable:
            self.gate.opened(key)
        await self._retry_or_fail(item, failure)

    def _delay(self, item: Received[UserIdentified], failure: Failure) -> float | None:
        return self.settings.retry.delay(
            failure,
            channel=item.event.channel,
            retries=item.delivery - 1,
            elapsed_s=time.monotonic() - item.first_handled_at,
            spread=random.random(),  # noqa: S311 (jitter, not a secret)
        )

    async def _retry_or_fail(self, item: Received[UserIdentified], failure: Failure) -> None:
        wait = self._delay(item, failure)
        if wait is None:
            await announce_failed(self.publish, item, failure)
            return
        RETRIES.labels(failure.reason.value).inc()
        log.debug(
            "Groq call deferred",
            message_id=item.event.message_id,
            detail=failure.detail,
            after_s=round(wait, 2),
        )
        raise RetryLater(failure.detail, after_s=wait)
