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
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from services.gateway.adapters.inbound_times import AcceptedTimes
from services.gateway.adapters.outbound_sends import (
    FAILED,
    SENDING,
    SENT,
    Claims,
    SendIntent,
    SendRecord,
    SendStore,
)
from services.gateway.adapters.providers import Provider, ProviderError
from services.gateway.adapters.reply_channels import NoAccount, ProviderUrls, ReplyChannels
from services.gateway.adapters.store import StoreUnavailable
from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.delivery_errors import ErrorKind, classify_code
from services.gateway.domain.owner_check import withheld_by_owner
from services.gateway.domain.pacing import (
    PAIR_INTERVAL_S,
    NumberGate,
    back_off_delay,
    sending_number,
)
from services.gateway.domain.replies import (
    SendFailure,
    final_failure,
    outage_delay,
    reply_parts,
    retry_delay,
)
from services.gateway.domain.window import has_window, last_seen, window_closed
from services.gateway.entrypoints.reply_outcomes import ReplyDone, ReplyJob, outcome_event
from services.gateway.entrypoints.reply_upkeep import heartbeat, until_done
from shared.consumer import BatchResult, Received
from shared.contracts.messages import Channel, ResponseGenerated
from shared.crypto import SecretBox
from shared.logging import get_logger
from shared.messaging import Publish
from shared.views.conversation_owners import ConversationOwners
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
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
_Intents = dict[str, tuple[Received[ResponseGenerated], list[str]]]


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
    channels: ReplyChannels = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        urls = ProviderUrls(s.graph_url, s.graph_version, s.twilio_url, s.twilio_status_callback)
        self.channels = ReplyChannels(self.provider, self.whatsapp, self.twilio, self.box, urls)

    async def __call__(self, batch: Sequence[Received[ResponseGenerated]]) -> BatchResult:
        result = BatchResult()
        intents = self._admit(batch, result)
        claims = await self._claim(intents, result) if intents else None
        if claims is None:
            return result
        claimed, accepted = claims
        jobs = []
        for message_id, (item, parts) in intents.items():
            item.span.set_attribute("app.message_id", message_id)
            if message_id in claimed.busy:
                result.retry_later(item, "another worker holds the lease", 1.0)
            elif message_id in claimed.taken:
                claim = claimed.taken[message_id]
                jobs.append(ReplyJob(item, parts, claim, accepted.get(message_id)))
            else:
                log.debug("reply already sent or failed", message_id=message_id)
        if not jobs:
            return result
        message_ids = [job.item.event.message_id for job in jobs]
        async with heartbeat(lambda: self.store.renew(message_ids), self.settings.lease_s / 3):
            done = await asyncio.gather(*(self._send(job) for job in jobs))
            records = [d.record for d in done]
            await until_done(lambda: self.store.record(records), "record reply sends", self.sleep)
        events = [event for d in done if (event := outcome_event(d)) is not None]
        await until_done(lambda: self.publish(events), "publish reply outcomes", self.sleep)
        for d in done:
            if d.retry_in is not None:
                result.retry_later(
                    d.job.item, d.failure.reason if d.failure else "retry", d.retry_in
                )
        return result

    def _admit(self, batch: Sequence[Received[ResponseGenerated]], result: BatchResult) -> _Intents:
        """The replies to try now: not a second one of a message, not a paced number."""
        intents: _Intents = {}
        now = self.clock()
        self.gate.forget_idle(now)
        for item in batch:
            if item.event.message_id in intents:  # twice in one batch: the second waits
                result.retry_later(item, "same message earlier in the batch", 0.1)
            elif (wait := self.gate.wait(sending_number(item.event), now)) > 0:
                # the number's rate, or a 130429 back-off: no claim, no attempt used
                PACED.labels(item.event.channel.value, "number_rate").inc()
                result.retry_later(item, "business number paced", wait)
            else:
                intents[item.event.message_id] = (item, reply_parts(item.event))
        return intents

    async def _claim(
        self, intents: _Intents, result: BatchResult
    ) -> tuple[Claims, dict[str, datetime]] | None:
        """One claim statement for the batch (and the acceptance times the window needs);
        None, every reply retried later, while the database is away."""
        try:
            accepted = await self._accepted_at([item.event for item, _ in intents.values()])
            claims = await self.store.claim(
                [
                    SendIntent(message_id, item.event.channel.value, len(parts))
                    for message_id, (item, parts) in intents.items()
                ]
            )
        except StoreUnavailable as exc:
            log.warning("replies not claimed; retrying", error=str(exc))
            for item, _ in intents.values():
                result.retry_later(item, "database unavailable", outage_delay(item.delivery))
            return None
        return claims, accepted

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
        if (failure := withheld_by_owner(outcome, state)) is not None:
            raise Withheld(failure)

    async def _send(self, job: ReplyJob) -> ReplyDone:
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
                    sent.append(await self.channels.send_part(outcome, job.parts[index]))
                    if index + 1 < len(job.parts):
                        await self._part_sent(message_id, sent)
                return ReplyDone(job, record(SENT))
            except Withheld as exc:
                WITHHELD.labels(outcome.channel.value, exc.failure.reason).inc()
                return ReplyDone(job, record(FAILED, exc.failure.detail[:500]), exc.failure)
            except ProviderError as exc:
                failure = exc.failure
            except NoAccount as exc:
                failure = SendFailure("no_account", None, str(exc))
            except Exception as exc:  # a bug: nothing was accepted by this call
                job.item.span.record_exception(exc)
                failure = SendFailure("internal_error", None, type(exc).__name__)
        error = failure.detail[:500]
        if final_failure(failure, job.claim.attempts, self.settings.max_attempts):
            return ReplyDone(job, record(FAILED, error), failure)
        return ReplyDone(job, record(SENDING, error), failure, self._retry_in(job, failure))

    def _retry_in(self, job: ReplyJob, failure: SendFailure) -> float:
        """When to try again: a number refused for throughput holds all its replies; a
        customer's pair limit spaces the parts; anything else backs off as before."""
        known = classify_code(failure.code)
        kind = known.kind if known is not None else None
        channel = job.item.event.channel.value
        if kind is ErrorKind.BACK_OFF:
            delay = back_off_delay(job.claim.attempts, failure.retry_after)
            self.gate.hold(sending_number(job.item.event), self.clock(), delay)
            PACED.labels(channel, failure.reason).inc()
            return delay
        if kind is ErrorKind.PACE:
            PACED.labels(channel, failure.reason).inc()
            return max(PAIR_INTERVAL_S, failure.retry_after or 0.0)
        return retry_delay(job.claim.attempts, failure.retry_after)

    async def _reengage(
        self,
        job: ReplyJob,
        sent: list[str],
        seen: datetime | None,
        record: Callable[[str, str | None], SendRecord],
    ) -> ReplyDone:
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
            language = settings.template_language
            sent.append(await self.channels.send_template(outcome, template, language))
            TEMPLATES.labels(outcome.channel.value).inc()
            detail += f"; re-engagement template {template!r} sent instead"
        failure = SendFailure("window_closed", None, detail)
        WITHHELD.labels(outcome.channel.value, failure.reason).inc()
        return ReplyDone(job, record(FAILED, detail[:500]), failure)

    async def _part_sent(self, message_id: str, sent: list[str]) -> None:
        """Best effort: it only shortens a resume after a crash; the batch's record (retried
        until written) carries the same progress."""
        try:
            await self.store.part_sent(message_id, len(sent), list(sent))
        except StoreUnavailable as exc:
            log.warning("reply part not recorded yet", message_id=message_id, error=str(exc))
