"""MessageReceived in, UserIdentified out. Idempotent: a redelivery republishes the same answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from prometheus_client import Counter

from services.identity.adapters.history import CustomerHistory
from services.identity.domain.identify import Identification, from_history, identify_by_config
from shared.contracts.messages import MessageReceived, UserIdentified
from shared.contracts.topics import MESSAGES_IDENTIFIED
from shared.logging import get_logger
from shared.messaging import publish_event
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
IDENTIFIED = Counter("identity_messages_total", "Messages identified, by how", ["identified_by"])


@dataclass
class IdentityHandler:
    directory: WhatsAppDirectory
    twilio: TwilioDirectory
    history: CustomerHistory
    broker: KafkaBroker

    async def __call__(self, record: ConsumerRecord) -> None:
        message = MessageReceived.model_validate_json(record.value)
        now = datetime.now(UTC)
        found = await self.identify(message, now)
        span = trace.get_current_span()
        span.set_attribute("app.message_id", message.message_id)
        span.set_attribute("app.identified_by", found.by.value)
        if found.user_id:
            span.set_attribute("app.user_id", str(found.user_id))
            log.info(
                "user identified",
                message_id=message.message_id,
                user_id=str(found.user_id),
                identified_by=found.by.value,
            )
        else:
            log.warning(
                "could not identify user, proceeding without user_id", message_id=message.message_id
            )
        IDENTIFIED.labels(found.by.value).inc()
        event = UserIdentified(
            **message.model_dump(exclude={"event_id", "event_type", "occurred_at"}),
            user_id=found.user_id,
            identified_by=found.by,
            occurred_at=now,
        )
        await publish_event(self.broker, MESSAGES_IDENTIFIED, event, key=message.conversation_key)
        # The history follows the event once it is in the log, by the rule the replay runs,
        # so it never holds what the log does not (a failure here retries both, harmlessly).
        await self.history.record(event)

    async def identify(self, message: MessageReceived, now: datetime) -> Identification:
        found = identify_by_config(message, self.directory, self.twilio)
        if found is None:
            found = from_history(await self.history.recent_user(message.customer_phone, now))
        return found
