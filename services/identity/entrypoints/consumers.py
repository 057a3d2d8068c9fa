"""MessageReceived in, UserIdentified out, a batch at a time.

Per batch: one history read for the numbers no config knows, one upsert of what was
learnt, one publish of every answer. Idempotent: a redelivery republishes the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord
from prometheus_client import Counter

from services.identity.adapters.history import HistoryStore
from services.identity.domain.identify import Identification, from_history, identify_by_config
from shared.consumer import Received
from shared.contracts.messages import HAS_MEDIA, MessageReceived, UserIdentified
from shared.contracts.topics import MESSAGES_IDENTIFIED
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
IDENTIFIED = Counter("identity_messages_total", "Messages identified, by how", ["identified_by"])


def parse_received(record: ConsumerRecord) -> MessageReceived:
    return MessageReceived.model_validate_json(record.value)


@dataclass
class IdentifyMessages:
    whatsapp: WhatsAppDirectory
    twilio: TwilioDirectory
    history: HistoryStore
    history_window: timedelta
    publish: Publish

    async def __call__(self, batch: Sequence[Received[MessageReceived]]) -> None:
        now = datetime.now(UTC)
        found = [identify_by_config(item.event, self.whatsapp, self.twilio) for item in batch]
        unknown = {item.event.customer_phone for item, f in zip(batch, found, strict=True) if not f}
        recent = await self.history.recent_users(unknown, now - self.history_window)
        results = [
            f or from_history(recent.get(item.event.customer_phone))
            for item, f in zip(batch, found, strict=True)
        ]
        answers = [
            self._answer(item, result, now) for item, result in zip(batch, results, strict=True)
        ]
        await self.publish(
            [
                Outgoing(
                    MESSAGES_IDENTIFIED,
                    answer,
                    answer.conversation_key,
                    item.context,
                    # The media service skips text-only records on this header, unparsed.
                    {HAS_MEDIA: "1" if answer.media is not None else "0"},
                )
                for item, answer in zip(batch, answers, strict=True)
            ]
        )
        # The history follows the events once they are in the log, by the rule the replay
        # runs, so it never holds what the log does not (a failure retries both, harmlessly).
        await self.history.record(answers)

    def _answer(
        self, item: Received[MessageReceived], found: Identification, now: datetime
    ) -> UserIdentified:
        message = item.event
        item.span.set_attribute("app.message_id", message.message_id)
        item.span.set_attribute("app.identified_by", found.by.value)
        if found.user_id:
            item.span.set_attribute("app.user_id", str(found.user_id))
        log.debug(
            "message identified",
            message_id=message.message_id,
            user_id=str(found.user_id) if found.user_id else None,
            identified_by=found.by.value,
        )
        IDENTIFIED.labels(found.by.value).inc()
        return UserIdentified(
            **message.model_dump(exclude={"event_id", "event_type", "occurred_at"}),
            user_id=found.user_id,
            identified_by=found.by,
            occurred_at=now,
        )
