"""ResponseGenerated for provider messages in, each reply sent exactly once, then
ReplyDelivered or ReplyFailed out — a batch at a time.

Per batch: one claim statement, the sends concurrently (the parts of one reply in order),
one statement recording every outcome, one publish of every event. Once a provider has
accepted a reply, its outcome is kept in memory and only the recording (and publishing)
is retried until the database (broker) answers: the reply is never sent again by this
process. While sends run, a heartbeat renews the batch's leases, so a short lease is
enough and a crashed sender's replies resume soon after it died. A provider answering
429/5xx (or not at all) gives the lease back and the record waits on a timer, holding no
consumer slot, until the next try.

Right before each part leaves, the conversation's owner is re-checked (the owner view):
while a human or a pause owns it the reply is not sent (ReplyFailed `owner_human` /
`owner_paused`). A WhatsApp reply past the 24-hour window is not sent as free text
(ReplyFailed `window_closed`); the tenant's re-engagement template goes instead when one is
configured. A business number refused for throughput (130429) holds all its replies for
the back-off; a customer's pair limit (131056) spaces the rest of a split reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from services.gateway.adapters.inbound_times import AcceptedTimes
from services.gateway.adapters.outbound_sends import (
    FAILED,
    SENDING,
    SENT,
    Claim,
    SendIntent,
    SendRecord,
    SendStore,
)
from services.gateway.adapters.providers import Provider, ProviderError
from services.gateway.adapters.store import StoreUnavailable
from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.delivery_errors import ErrorKind, classify_code
from services.gateway.domain.pacing import PAIR_INTERVAL_S, NumberGate, back_off_delay
from services.gateway.domain.replies import (
    SendFailure,
    final_failure,
    outage_delay,
    reply_parts,
    retry_delay,
)
from services.gateway.domain.window import has_window, last_seen, window_closed
from shared.consumer import BatchResult, Received
from shared.contracts.deliveries import ReplyDelivered, ReplyFailed
from shared.contracts.messages import Channel, ResponseGenerated
from shared.contracts.topics import MESSAGE_DELIVERIES
from shared.crypto import SecretBox
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish
from shared.views.conversation_owners import ConversationOwners
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppAccount, WhatsAppDirectory

log = get_logger(__name__)
SENDS = Counter("gateway_deliveries_total", "Replies sent to providers", ["channel", "outcome"])
WITHHELD = Counter(
    "gateway_replies_withheld_total",
    "Replies not sent as free text: owner_human, owner_paused, window_closed",
    ["channel", "reason"],
)
TEMPLATES = Counter(
    "gateway_reengagement_templates_total", "Re-engagement templates sent", ["channel"]
)
PACED = Counter(
    "gateway_sends_paced_total", "Sends spaced out for a provider's rate", ["channel", "reason"]
)


class NoAccount(Exception):
    """The tenant has no active provider account (or no readable credentials) for it."""


class Withheld(Exception):
    """The reply must not leave as free text now (the owner, the 24-hour window)."""

    def __init__(self, failure: SendFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


@dataclass(frozen=True)
class SenderSettings:
    graph_url: str
    graph_version: str
    twilio_url: str
    max_attempts: int  # tries of one reply before ReplyFailed(provider_unavailable)
    lease_s: float  # the heartbeat renews it every third of that
    twilio_status_callback: str | None = None  # where Twilio posts each send's statuses


@dataclass(frozen=True)
class _Job:
    item: Received[ResponseGenerated]
    parts: list[str]
    claim: Claim
    accepted_at: datetime | None = None  # the 24-hour window's fallback


@dataclass(frozen=True)
class _Done:
    job: _Job
    record: SendRecord
    failure: SendFailure | None = None
    retry_in: float | None = None  # a later try is due (the lease was given back)


@dataclass
class ReplySender:
    store: SendStore
    provider: Provider
    whatsapp: WhatsAppDirectory
    twilio: TwilioDirectory
    box: SecretBox
    publish: Publish
    settings: SenderSettings
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    owners: ConversationOwners = field(default_factory=ConversationOwners)
    conversations: ConversationSettingsView = field(default_factory=ConversationSettingsView)
    accepted: AcceptedTimes | None = None
    gate: NumberGate = field(default_factory=lambda: NumberGate(0))
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clock: Callable[[], float] = field(default=time.monotonic)

    async def __call__(self, batch: Sequence[Received[ResponseGenerated]]) -> BatchResult:
        result = BatchResult()
        intents: dict[str, tuple[Received[ResponseGenerated], list[str]]] = {}
        now = self.clock()
        self.gate.forget_idle(now)
        for item in batch:
            if item.event.message_id in intents:  # twice in one batch: the second waits
                result.retry_later(item, "same message earlier in the batch", 0.1)
            elif (wait := self.gate.wait(_number(item.event), now)) > 0:
                # the number's rate, or a 130429 back-off: no claim, no attempt used
                PACED.labels(item.event.channel.value, "number_rate").inc()
                result.retry_later(item, "business number paced", wait)
            else:
                intents[item.event.message_id] = (item, reply_parts(item.event))
        if not intents:
            return result
        try:
            accepted = await self._accepted_at([item.event for item, _ in intents.values()])
        except StoreUnavailable as exc:
            log.warning("inbound times not read; retrying", error=str(exc))
            for item, _ in intents.values():
                result.retry_later(item, "database unavailable", outage_delay(item.delivery))
            return result
        try:
            claims = await self.store.claim(
                [
                    SendIntent(message_id, item.event.channel.value, len(parts))
                    for message_id, (item, parts) in intents.items()
                ]
            )
        except StoreUnavailable as exc:
            log.warning("reply claims not written; retrying", error=str(exc))
            for item, _ in intents.values():
                result.retry_later(item, "database unavailable", outage_delay(item.delivery))
            return result
        jobs = []
        for message_id, (item, parts) in intents.items():
            item.span.set_attribute("app.message_id", message_id)
            if message_id in claims.busy:
                result.retry_later(item, "another worker holds the lease", 1.0)
            elif message_id in claims.taken:
                claim = claims.taken[message_id]
                jobs.append(_Job(item, parts, claim, accepted.get(message_id)))
            else:
                log.debug("reply already sent or failed", message_id=message_id)
        if jobs:
            for done in await self._send_all(jobs):
                if done.retry_in is not None:
                    reason = done.failure.reason if done.failure else "retry"
                    result.retry_later(done.job.item, reason, done.retry_in)
        return result

    async def _send_all(self, jobs: list[_Job]) -> list[_Done]:
        async with self._heartbeat([job.item.event.message_id for job in jobs]):
            done = await asyncio.gather(*(self._send(job) for job in jobs))
            records = [d.record for d in done]
            await self._until_done(lambda: self.store.record(records), "record reply sends")
        events = [event for d in done if (event := self._outcome(d)) is not None]
        await self._until_done(lambda: self.publish(events), "publish reply outcomes")
        return done

    async def _accepted_at(self, outcomes: list[ResponseGenerated]) -> dict[str, datetime]:
        """The gateway's own acceptance times, read only for window-bound replies that do
        not say when the customer last wrote."""
        wanted = [
            o.message_id for o in outcomes if has_window(o) and o.customer_last_seen_at is None
        ]
        if self.accepted is None or not wanted:
            return {}
        return await self.accepted.accepted_at(wanted)

    def _check_owner(self, outcome: ResponseGenerated) -> None:
        """Raises Withheld while a human or a pause owns the conversation."""
        if outcome.user_id is None:
            return
        state = self.owners.current(outcome.user_id, outcome.conversation_key, self.now())
        if state.bot_answers:
            return
        answered = {outcome.message_id, *outcome.turn_message_ids}
        if state.message_id is not None and state.message_id in answered:
            return  # the bot's last word on the handover it made (the acknowledgement)
        until = f" until {state.until.isoformat()}" if state.until else ""
        by = state.changed_by.value if state.changed_by else "unknown"
        raise Withheld(
            SendFailure(
                f"owner_{state.owner.value}",
                None,
                f"the conversation is {state.owner.value}{until} (set by {by}); not sent",
            )
        )

    async def _send(self, job: _Job) -> _Done:
        """Send the parts not sent yet, in order; never raises."""
        outcome, message_id = job.item.event, job.item.event.message_id
        sent = list(job.claim.provider_message_ids)

        def record(status: str, error: str | None = None) -> SendRecord:
            channel, total = outcome.channel.value, len(job.parts)
            return SendRecord(message_id, channel, total, status, len(sent), list(sent), error)

        with job.item.activated():
            try:
                seen = last_seen(outcome, job.accepted_at) if has_window(outcome) else None
                closed = window_closed(seen, self.now())
                for index in range(job.claim.parts_sent, len(job.parts)):
                    self._check_owner(outcome)
                    if closed:
                        return await self._reengage(job, sent, seen, record)
                    sent.append(await self._send_part(outcome, job.parts[index]))
                    if index + 1 < len(job.parts):
                        await self._part_sent(message_id, sent)
                return _Done(job, record(SENT))
            except Withheld as exc:
                WITHHELD.labels(outcome.channel.value, exc.failure.reason).inc()
                return _Done(job, record(FAILED, exc.failure.detail[:500]), exc.failure)
            except ProviderError as exc:
                failure = exc.failure
            except NoAccount as exc:
                failure = SendFailure("no_account", None, str(exc))
            except Exception as exc:  # a bug: nothing was accepted by this call
                job.item.span.record_exception(exc)
                failure = SendFailure("internal_error", None, type(exc).__name__)
        error = failure.detail[:500]
        if final_failure(failure, job.claim.attempts, self.settings.max_attempts):
            return _Done(job, record(FAILED, error), failure)
        return _Done(job, record(SENDING, error), failure, self._retry_in(job, failure))

    def _retry_in(self, job: _Job, failure: SendFailure) -> float:
        """When to try again: a number refused for throughput holds all its replies; a
        customer's pair limit spaces the parts; anything else backs off as before."""
        known = classify_code(failure.code)
        kind = known.kind if known is not None else None
        channel = job.item.event.channel.value
        if kind is ErrorKind.BACK_OFF:
            delay = back_off_delay(job.claim.attempts, failure.retry_after)
            self.gate.hold(_number(job.item.event), self.clock(), delay)
            PACED.labels(channel, failure.reason).inc()
            return delay
        if kind is ErrorKind.PACE:
            PACED.labels(channel, failure.reason).inc()
            return max(PAIR_INTERVAL_S, failure.retry_after or 0.0)
        return retry_delay(job.claim.attempts, failure.retry_after)

    async def _reengage(
        self,
        job: _Job,
        sent: list[str],
        seen: datetime | None,
        record: Callable[[str, str | None], SendRecord],
    ) -> _Done:
        """Past the 24-hour window: no free text. The tenant's approved template goes
        instead when there is one (WhatsApp Cloud only; Twilio's templates are Content
        resources this gateway does not manage). Either way the reply is recorded failed
        with `window_closed`, and the template's id is kept with it."""
        outcome = job.item.event
        since = seen.isoformat() if seen else "unknown"
        detail = f"the 24-hour window closed (customer last wrote {since}); not sent"
        settings = self.conversations.of(outcome.user_id)
        template = settings.reengagement_template
        if template and outcome.channel == Channel.WHATSAPP and not sent:
            account, token = self._whatsapp_account(outcome)
            sent.append(
                await self.provider.send_whatsapp_template(
                    self.settings.graph_url,
                    self.settings.graph_version,
                    account.phone_number_id,
                    token,
                    outcome.customer_phone.removeprefix("+"),
                    template,
                    settings.template_language,
                )
            )
            TEMPLATES.labels(outcome.channel.value).inc()
            detail += f"; re-engagement template {template!r} sent instead"
        failure = SendFailure("window_closed", None, detail)
        WITHHELD.labels(outcome.channel.value, failure.reason).inc()
        return _Done(job, record(FAILED, detail[:500]), failure)

    def _whatsapp_account(self, outcome: ResponseGenerated) -> tuple[WhatsAppAccount, str]:
        account = self.whatsapp.by_phone_number_id(outcome.phone_number_id or "")
        token = self.box.try_decrypt(account.access_token_encrypted) if account else None
        if account is None or token is None:
            raise NoAccount(f"no active WhatsApp account for {outcome.phone_number_id}")
        return account, token

    async def _send_part(self, outcome: ResponseGenerated, body: str) -> str:
        settings = self.settings
        if outcome.channel == Channel.WHATSAPP:
            account, token = self._whatsapp_account(outcome)
            return await self.provider.send_whatsapp_text(
                settings.graph_url,
                settings.graph_version,
                account.phone_number_id,
                token,
                outcome.customer_phone.removeprefix("+"),
                body,
            )
        twilio = self.twilio.by_number(outcome.business_phone or "")
        auth_token = self.box.try_decrypt(twilio.auth_token_encrypted) if twilio else None
        if twilio is None or auth_token is None:
            raise NoAccount(f"no active Twilio account for {outcome.business_phone}")
        prefix = "whatsapp:" if outcome.source == "whatsapp" else ""
        return await self.provider.send_twilio_message(
            settings.twilio_url,
            twilio.account_sid,
            auth_token,
            f"{prefix}{twilio.phone_number}",
            f"{prefix}{outcome.customer_phone}",
            body,
            settings.twilio_status_callback,
        )

    async def _part_sent(self, message_id: str, sent: list[str]) -> None:
        """Best effort: it only shortens a resume after a crash; the batch's record (retried
        until written) carries the same progress."""
        try:
            await self.store.part_sent(message_id, len(sent), list(sent))
        except StoreUnavailable as exc:
            log.warning("reply part not recorded yet", message_id=message_id, error=str(exc))

    def _outcome(self, done: _Done) -> Outgoing | None:
        """The event of a finished reply (and its one log line); None while a try is due."""
        item, record, failure = done.job.item, done.record, done.failure
        outcome = item.event
        channel = outcome.channel.value
        if record.status == SENT:
            SENDS.labels(channel, "sent").inc()
            log.info("reply delivered", message_id=outcome.message_id, parts=record.parts_sent)
            event: ReplyDelivered | ReplyFailed = ReplyDelivered(
                message_id=outcome.message_id,
                attempt=outcome.attempt,
                conversation_key=outcome.conversation_key,
                user_id=outcome.user_id,
                channel=outcome.channel,
                provider_message_ids=record.provider_message_ids,
                parts=len(done.job.parts),
            )
            return Outgoing(MESSAGE_DELIVERIES, event, outcome.conversation_key, item.context)
        assert failure is not None
        if record.status == SENDING:
            log.info(
                "reply send deferred",
                message_id=outcome.message_id,
                reason=failure.reason,
                status_code=failure.status_code,
                retry_in_s=round(done.retry_in or 0.0, 2),
            )
            return None
        SENDS.labels(channel, failure.reason).inc()
        log.warning(
            "reply not delivered",
            message_id=outcome.message_id,
            reason=failure.reason,
            status_code=failure.status_code,
        )
        event = ReplyFailed(
            message_id=outcome.message_id,
            attempt=outcome.attempt,
            conversation_key=outcome.conversation_key,
            user_id=outcome.user_id,
            channel=outcome.channel,
            reason=failure.reason,
            status_code=failure.status_code,
            attempts=done.job.claim.attempts,
            detail=failure.detail[:500],
            error_code=failure.code,
            provider_message_ids=record.provider_message_ids,
        )
        return Outgoing(MESSAGE_DELIVERIES, event, outcome.conversation_key, item.context)

    async def _until_done(self, action: Callable[[], Awaitable[None]], what: str) -> None:
        """Retry `action` (waits ≤ 1 s) until it succeeds: what it writes is already true at
        the provider, so giving up would make the reply look unsent."""
        failures = 0
        while True:
            try:
                await action()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning(f"could not {what}; retrying", error=str(exc)[:200])
                await self.sleep(outage_delay(failures))
                continue
            if failures:
                log.info(f"{what}: done after {failures} failed tries")
            return

    @contextlib.asynccontextmanager
    async def _heartbeat(self, message_ids: list[str]) -> AsyncIterator[None]:
        """Renew the leases every third of their length until the block ends. Stopped by
        an event, never cancelled: a statement cancelled half-way breaks its connection."""
        done = asyncio.Event()

        async def renew() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.settings.lease_s / 3)
                if done.is_set():
                    return
                try:
                    await self.store.renew(message_ids)
                except StoreUnavailable as exc:
                    log.warning("reply leases not renewed", error=str(exc))

        task = asyncio.create_task(renew(), name="reply-lease-heartbeat")
        try:
            yield
        finally:
            done.set()
            await task


def _number(outcome: ResponseGenerated) -> str:
    """The business number a reply leaves from: what Meta's throughput is counted on."""
    return outcome.phone_number_id or outcome.business_phone or "-"
