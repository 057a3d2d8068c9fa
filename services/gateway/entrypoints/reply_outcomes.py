"""A reply's try in the sender (`ReplyJob`, `ReplyDone`) and the event a finished one
publishes: ReplyDelivered or ReplyFailed, with its count and its one log line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter

from services.gateway.adapters.outbound_sends import SENDING, SENT, Claim, SendRecord
from services.gateway.domain.replies import SendFailure
from shared.consumer import Received
from shared.contracts.deliveries import ReplyDelivered, ReplyFailed
from shared.contracts.messages import ResponseGenerated
from shared.contracts.topics import MESSAGE_DELIVERIES
from shared.logging import get_logger
from shared.messaging import Outgoing

log = get_logger(__name__)
SENDS = Counter("gateway_deliveries_total", "Replies sent to providers", ["channel", "outcome"])


@dataclass(frozen=True)
class ReplyJob:
    item: Received[ResponseGenerated]
    parts: list[str]
    claim: Claim
    accepted_at: datetime | None = None  # the 24-hour window's fallback


@dataclass(frozen=True)
class ReplyDone:
    job: ReplyJob
    record: SendRecord
    failure: SendFailure | None = None
    retry_in: float | None = None  # a later try is due (the lease was given back)


def outcome_event(done: ReplyDone) -> Outgoing | None:
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
