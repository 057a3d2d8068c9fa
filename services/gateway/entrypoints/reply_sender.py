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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter

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
from services.gateway.domain.replies import (
    SendFailure,
    final_failure,
    outage_delay,
    reply_parts,
    retry_delay,
)
from shared.consumer import BatchResult, Received
from shared.contracts.deliveries import ReplyDelivered, ReplyFailed
from shared.contracts.messages import Channel, ResponseGenerated
from shared.contracts.topics import MESSAGE_DELIVERIES
from shared.crypto import SecretBox
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
SENDS = Counter("gateway_deliveries_total", "Replies sent to providers", ["channel", "outcome"])


class NoAccount(Exception):
    """The tenant has no active provider account (or no readable credentials) for it."""


@dataclass(frozen=True)
class SenderSettings:
    graph_url: str
    graph_version: str
    twilio_url: str
    max_attempts: int  # tries of one reply before ReplyFailed(provider_unavailable)
    lease_s: float  # the heartbeat renews it every third of that


@dataclass(frozen=True)
class _Job:
    item: Received[ResponseGenerated]
    parts: list[str]
    claim: Claim


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

    async def __call__(self, batch: Sequence[Received[ResponseGenerated]]) -> BatchResult:
        result = BatchResult()
        intents: dict[str, tuple[Received[ResponseGenerated], list[str]]] = {}
        for item in batch:
            if item.event.message_id in intents:  # twice in one batch: the second waits
                result.retry_later(item, "same message earlier in the batch", 0.1)
            else:
                intents[item.event.message_id] = (item, reply_parts(item.event))
        if not intents:
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
                jobs.append(_Job(item, parts, claims.taken[message_id]))
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

    async def _send(self, job: _Job) -> _Done:
        """Send the parts not sent yet, in order; never raises."""
        outcome, message_id = job.item.event, job.item.event.message_id
        sent = list(job.claim.provider_message_ids)

        def record(status: str, error: str | None = None) -> SendRecord:
            channel, total = outcome.channel.value, len(job.parts)
            return SendRecord(message_id, channel, total, status, len(sent), list(sent), error)

        with job.item.activated():
            try:
                for index in range(job.claim.parts_sent, len(job.parts)):
                    sent.append(await self._send_part(outcome, job.parts[index]))
                    if index + 1 < len(job.parts):
                        await self._part_sent(message_id, sent)
                return _Done(job, record(SENT))
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
        delay = retry_delay(job.claim.attempts, failure.retry_after)
        return _Done(job, record(SENDING, error), failure, delay)

    async def _send_part(self, outcome: ResponseGenerated, body: str) -> str:
        settings = self.settings
        if outcome.channel == Channel.WHATSAPP:
            account = self.whatsapp.by_phone_number_id(outcome.phone_number_id or "")
            token = self.box.try_decrypt(account.access_token_encrypted) if account else None
            if account is None or token is None:
                raise NoAccount(f"no active WhatsApp account for {outcome.phone_number_id}")
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
