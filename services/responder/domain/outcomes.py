"""The events that close a message: its reply, or why it got none."""

from __future__ import annotations

from services.responder.domain.conversation import BotReply
from services.responder.domain.failures import Failure
from shared.contracts.conversations import TurnStarted
from shared.contracts.messages import (
    ConfigSource,
    ResponseFailed,
    ResponseGenerated,
    UserIdentified,
)


def answered(message: UserIdentified, reply: BotReply) -> ResponseGenerated:
    return ResponseGenerated(
        message_id=message.message_id,
        attempt=message.attempt,
        conversation_key=message.conversation_key,
        user_id=message.user_id,
        channel=message.channel,
        customer_phone=message.customer_phone,
        phone_number_id=message.phone_number_id,
        business_phone=message.business_phone,
        source=message.source,
        response=reply.content,
        config_source=ConfigSource(reply.config_source),
        model=reply.model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        occurred_at=reply.created_at,
        key_id=reply.key_id,
        rate_limits=reply.rate_limits,
        model_fallback_reason=reply.fallback_reason,
        # The 24-hour window's start, so the gateway need not read when it accepted it.
        customer_last_seen_at=message.received_at,
    )


def reply_of(event: ResponseGenerated) -> BotReply:
    """The reply an event announced (the replay stores bot rows from the log with it)."""
    return BotReply(
        content=event.response,
        config_source=event.config_source.value,
        model=event.model,
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        created_at=event.occurred_at,
    )


def failed(message: UserIdentified, failure: Failure) -> ResponseFailed:
    return ResponseFailed(
        message_id=message.message_id,
        attempt=message.attempt,
        conversation_key=message.conversation_key,
        user_id=message.user_id,
        channel=message.channel,
        reason=failure.reason,
        retryable=failure.retryable,
        detail=failure.detail,
    )


def turn_answered(
    last: UserIdentified, reply: BotReply, message_ids: list[str]
) -> ResponseGenerated:
    """A turn's reply: keyed like any reply by its last message, listing the turn's."""
    return answered(last, reply).model_copy(update={"turn_message_ids": message_ids})


def turn_started(last: UserIdentified, message_ids: list[str]) -> TurnStarted:
    return TurnStarted(
        message_id=last.message_id,
        attempt=last.attempt,
        conversation_key=last.conversation_key,
        user_id=last.user_id,
        channel=last.channel,
        customer_phone=last.customer_phone,
        phone_number_id=last.phone_number_id,
        business_phone=last.business_phone,
        source=last.source,
        turn_message_ids=message_ids,
    )
