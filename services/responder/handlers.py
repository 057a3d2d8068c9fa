"""UserIdentified in, ResponseGenerated or ResponseFailed out.

Idempotent by message id: a stored bot reply is re-announced instead of asking Groq again,
so a redelivery after a crash never produces a second reply row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from prometheus_client import Counter, Histogram

from services.responder.adapters.conversations import BotReply, ConversationStore, reply_from_row
from services.responder.adapters.groq_client import (
    GroqGateway,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
)
from services.responder.domain.groq_settings import GroqSettingsView, ResolvedGroq
from shared.contracts.messages import (
    ConfigSource,
    FailureReason,
    ResponseFailed,
    ResponseGenerated,
    UserIdentified,
)
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.crypto import SecretBox, SecretBoxError
from shared.logging import get_logger
from shared.messaging import publish_event

log = get_logger(__name__)
OUTCOMES = Counter("responder_outcomes_total", "Replies and failures", ["outcome", "config_source"])
TOKENS = Counter(
    "responder_tokens_total",
    "Groq tokens by tenant ('fallback' for the system config) and kind",
    ["tenant", "kind"],
)
GROQ_LATENCY = Histogram(
    "responder_groq_seconds",
    "Groq call latency",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)


@dataclass
class ResponderHandler:
    view: GroqSettingsView
    store: ConversationStore
    groq: GroqGateway
    box: SecretBox
    broker: KafkaBroker
    default_base_url: str
    system_prompt: str
    context_messages: int
    context_window: timedelta

    async def __call__(self, record: ConsumerRecord) -> None:
        message = UserIdentified.model_validate_json(record.value)
        span = trace.get_current_span()
        span.set_attribute("app.message_id", message.message_id)
        if message.user_id:
            span.set_attribute("app.user_id", str(message.user_id))
        if not await self.store.save_inbound(message):
            # seen before: if its reply was stored, announce that one, never ask twice
            stored = await self.store.existing_reply(message.message_id)
            if stored is not None:
                await self._announce(message, reply_from_row(stored))
                return
        resolved = self.view.resolve(message.user_id)
        span.set_attribute("app.config_source", resolved.source if resolved else "none")
        if resolved is None:
            log.error(
                "no Groq configuration for user or system",
                message_id=message.message_id,
                user_id=str(message.user_id) if message.user_id else None,
            )
            await self._fail(
                message,
                FailureReason.CONFIG_REQUIRED,
                retryable=False,
                detail="no user Groq config and no enabled system fallback",
            )
            return
        log.info("using Groq config", source=resolved.source.value, message_id=message.message_id)
        try:
            reply = await self._ask_groq(message, resolved)
        except ProviderAuthError as exc:
            await self._fail(message, FailureReason.PROVIDER_AUTH, retryable=False, detail=str(exc))
            return
        except ProviderRejected as exc:
            await self._fail(
                message, FailureReason.PROVIDER_REJECTED, retryable=False, detail=str(exc)
            )
            return
        except ProviderUnavailable as exc:
            await self._fail(
                message, FailureReason.PROVIDER_UNAVAILABLE, retryable=True, detail=str(exc)
            )
            return
        except SecretBoxError:
            # The stored key was encrypted under a key SECRETS_KEY no longer holds: a
            # configuration problem (rotation done out of order), not worth retrying.
            await self._fail(
                message,
                FailureReason.CONFIG_REQUIRED,
                retryable=False,
                detail="stored Groq key cannot be decrypted with SECRETS_KEY",
            )
            return
        await self._announce(message, await self.store.save_reply(generated(message, reply)))

    async def _ask_groq(self, message: UserIdentified, resolved: ResolvedGroq) -> BotReply:
        history = await self.store.recent_context(
            message, self.context_messages, self.context_window
        )
        prompt: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt}]
        prompt += [
            {"role": "assistant" if sender == "bot" else "user", "content": content}
            for sender, content in history
        ]
        prompt.append({"role": "user", "content": message.text})
        account = resolved.account
        with GROQ_LATENCY.time():
            completion = await self.groq.complete(
                api_key=self.box.decrypt(account.api_key_encrypted),
                base_url=resolved.base_url or self.default_base_url,
                model=account.model,
                temperature=account.temperature,
                messages=prompt,
            )
        span = trace.get_current_span()
        span.set_attribute("gen_ai.request.model", account.model)
        if completion.prompt_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", completion.prompt_tokens)
        if completion.completion_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", completion.completion_tokens)
        tenant = str(message.user_id) if resolved.source == ConfigSource.USER else "fallback"
        TOKENS.labels(tenant, "input").inc(completion.prompt_tokens or 0)
        TOKENS.labels(tenant, "output").inc(completion.completion_tokens or 0)
        return BotReply(
            content=completion.text,
            config_source=resolved.source.value,
            model=account.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            created_at=datetime.now(UTC),
        )

    async def _announce(self, message: UserIdentified, reply: BotReply) -> None:
        OUTCOMES.labels("answered", reply.config_source).inc()
        event = generated(message, reply)
        await publish_event(self.broker, MESSAGE_OUTCOMES, event, key=message.conversation_key)

    async def _fail(
        self, message: UserIdentified, reason: FailureReason, *, retryable: bool, detail: str
    ) -> None:
        OUTCOMES.labels(reason.value, "none").inc()
        log.warning(
            "message not answered",
            message_id=message.message_id,
            reason=reason.value,
            retryable=retryable,
            detail=detail,
        )
        event = ResponseFailed(
            message_id=message.message_id,
            attempt=message.attempt,
            conversation_key=message.conversation_key,
            user_id=message.user_id,
            channel=message.channel,
            reason=reason,
            retryable=retryable,
            detail=detail,
        )
        await publish_event(self.broker, MESSAGE_OUTCOMES, event, key=message.conversation_key)


def generated(message: UserIdentified, reply: BotReply) -> ResponseGenerated:
    """The event of a reply, stored or new: the same reply always gives the same event
    fields (occurred_at is when it was generated), and its bot row is built from them."""
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
    )
