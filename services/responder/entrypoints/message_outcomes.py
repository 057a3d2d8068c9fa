"""A message's outcome on messages.outcomes.v1, with its metric and its one INFO or WARNING
line: answered (a stored reply, new or re-announced) or failed."""

from __future__ import annotations

from services.responder.domain.conversation import BotReply
from services.responder.domain.failures import Failure
from services.responder.domain.outcomes import answered, failed
from services.responder.entrypoints.answer_common import OUTCOMES
from shared.consumer import Received
from shared.contracts.messages import UserIdentified
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish

log = get_logger(__name__)


async def announce_answered(
    publish: Publish, item: Received[UserIdentified], reply: BotReply, *, replayed: bool
) -> None:
    OUTCOMES.labels("answered", reply.config_source).inc()
    message = item.event
    event = answered(message, reply)
    await publish([Outgoing(MESSAGE_OUTCOMES, event, message.conversation_key, item.context)])
    log.info(
        "message answered",
        message_id=message.message_id,
        config_source=reply.config_source,
        model=reply.model,
        replayed=replayed,
        tries=item.delivery,
    )


async def announce_failed(
    publish: Publish, item: Received[UserIdentified], failure: Failure
) -> None:
    OUTCOMES.labels(failure.reason.value, "none").inc()
    message = item.event
    event = failed(message, failure)
    await publish([Outgoing(MESSAGE_OUTCOMES, event, message.conversation_key, item.context)])
    log.warning(
        "message not answered",
        message_id=message.message_id,
        reason=failure.reason.value,
        retryable=failure.retryable,
        detail=failure.detail,
        tries=item.delivery,
    )
