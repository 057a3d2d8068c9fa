"""ResponseGenerated for a provider message in, the reply sent exactly once, then
ReplyDelivered or ReplyFailed out."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from prometheus_client import Counter

from services.gateway.adapters.deliveries import DeliveryStore
from services.gateway.adapters.inbound import outcome_adapter
from services.gateway.adapters.providers import (
    ProviderClient,
    ProviderRejected,
    ProviderUnavailable,
)
from services.gateway.domain.whatsapp import split_text
from services.gateway.settings import GatewaySettings
from shared.contracts.deliveries import ReplyDelivered, ReplyFailed
from shared.contracts.messages import Channel, ResponseGenerated
from shared.contracts.topics import MESSAGE_DELIVERIES
from shared.crypto import SecretBox
from shared.logging import get_logger
from shared.messaging import publish_event
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
DELIVERIES = Counter(
    "gateway_deliveries_total", "Replies sent to providers", ["channel", "outcome"]
)
LIMITS = {Channel.WHATSAPP: 4096, Channel.TWILIO: 1600}


class NoAccount(Exception):
    """The tenant has no active provider account (or no credentials) for this number."""


@dataclass
class ReplyDispatcher:
    store: DeliveryStore
    client: ProviderClient
    whatsapp: WhatsAppDirectory
    twilio: TwilioDirectory
    box: SecretBox
    broker: KafkaBroker
    settings: GatewaySettings

    async def __call__(self, record: ConsumerRecord) -> None:
        outcome = outcome_adapter.validate_json(record.value)
        if not isinstance(outcome, ResponseGenerated) or outcome.channel not in LIMITS:
            return
        parts = split_text(outcome.response, LIMITS[outcome.channel])
        claim = await self.store.claim(outcome.message_id, outcome.channel.value, len(parts))
        if claim is None:
            return  # already sent (or failed for good): never twice
        trace.get_current_span().set_attribute("app.message_id", outcome.message_id)
        sent = list(claim.provider_message_ids)
        try:
            for index in range(claim.parts_sent, len(parts)):
                sent.append(await self._send(outcome, parts[index]))
                if index + 1 < len(parts):
                    await self.store.part_sent(outcome.message_id, index + 1, sent)
        except ProviderUnavailable as exc:
            await self._fail(
                outcome, "provider_unavailable", exc.status_code, claim.attempts, str(exc)
            )
            return
        except ProviderRejected as exc:
            await self._fail(
                outcome, "provider_rejected", exc.status_code, claim.attempts, str(exc)
            )
            return
        except NoAccount as exc:
            await self._fail(outcome, "no_account", None, claim.attempts, str(exc))
            return
        await self.store.sent(outcome.message_id, len(parts), sent)
        DELIVERIES.labels(outcome.channel.value, "sent").inc()
        log.info("reply delivered", message_id=outcome.message_id, parts=len(parts))
        await publish_event(
            self.broker,
            MESSAGE_DELIVERIES,
            ReplyDelivered(
                message_id=outcome.message_id,
                attempt=outcome.attempt,
                conversation_key=outcome.conversation_key,
                user_id=outcome.user_id,
                channel=outcome.channel,
                provider_message_ids=sent,
                parts=len(parts),
            ),
            key=outcome.conversation_key,
        )

    async def _send(self, outcome: ResponseGenerated, body: str) -> str:
        if outcome.channel == Channel.WHATSAPP:
            account = self.whatsapp.by_phone_number_id(outcome.phone_number_id or "")
            if account is None or account.access_token_encrypted is None:
                raise NoAccount(f"no active WhatsApp account for {outcome.phone_number_id}")
            return await self.client.send_whatsapp_text(
                self.settings.whatsapp_graph_url,
                self.settings.whatsapp_graph_version,
                account.phone_number_id,
                self.box.decrypt(account.access_token_encrypted),
                outcome.customer_phone.removeprefix("+"),
                body,
            )
        twilio = self.twilio.by_number(outcome.business_phone or "")
        if twilio is None:
            raise NoAccount(f"no active Twilio account for {outcome.business_phone}")
        prefix = "whatsapp:" if outcome.source == "whatsapp" else ""
        return await self.client.send_twilio_message(
            self.settings.twilio_api_url,
            twilio.account_sid,
            self.box.decrypt(twilio.auth_token_encrypted),
            f"{prefix}{twilio.phone_number}",
            f"{prefix}{outcome.customer_phone}",
            body,
        )

    async def _fail(
        self,
        outcome: ResponseGenerated,
        reason: str,
        status_code: int | None,
        attempts: int,
        detail: str,
    ) -> None:
        await self.store.finish(outcome.message_id, "failed", detail[:500])
        DELIVERIES.labels(outcome.channel.value, reason).inc()
        log.warning(
            "reply not delivered",
            message_id=outcome.message_id,
            reason=reason,
            status_code=status_code,
        )
        await publish_event(
            self.broker,
            MESSAGE_DELIVERIES,
            ReplyFailed(
                message_id=outcome.message_id,
                attempt=outcome.attempt,
                conversation_key=outcome.conversation_key,
                user_id=outcome.user_id,
                channel=outcome.channel,
                reason=reason,
                status_code=status_code,
                attempts=attempts,
                detail=detail[:500],
            ),
            key=outcome.conversation_key,
        )
