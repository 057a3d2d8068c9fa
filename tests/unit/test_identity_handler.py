"""The identity handler with in-memory fakes: one history read and one upsert per batch,
config before history, an answer for every message under its own key."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from services.identity.entrypoints.consumers import IdentifyMessages
from shared.contracts.config_events import WhatsAppConfigChanged
from shared.contracts.media import MediaKind, MediaRef
from shared.contracts.messages import (
    HAS_MEDIA,
    Channel,
    IdentifiedBy,
    MessageReceived,
    UserIdentified,
)
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory
from tests.support.seams import Published, received


class FakeHistory:
    def __init__(self, known: dict[str, uuid.UUID]) -> None:
        self.known = known
        self.reads: list[set[str]] = []
        self.writes: list[dict[str, uuid.UUID]] = []

    async def recent_users(
        self, customer_phones: Collection[str], since: datetime
    ) -> dict[str, uuid.UUID]:
        self.reads.append(set(customer_phones))
        return {p: self.known[p] for p in customer_phones if p in self.known}

    async def record(self, events: Sequence[UserIdentified]) -> None:
        self.writes.append({e.customer_phone: e.user_id for e in events if e.user_id})


def _message(customer: str, business: str | None = None, n: int = 0) -> MessageReceived:
    return MessageReceived(
        message_id=f"m-{customer}-{n}",
        conversation_key=f"api:{business or '-'}:{customer}",
        channel=Channel.API,
        source="whatsapp",
        customer_phone=customer,
        business_phone=business,
        text="hi",
        received_at=datetime.now(UTC).isoformat(),
    )


async def test_a_batch_costs_one_history_read_and_one_upsert() -> None:
    tenant, returning = uuid.uuid4(), uuid.uuid4()
    whatsapp = WhatsAppDirectory()
    whatsapp.apply(
        WhatsAppConfigChanged(
            user_id=tenant,
            phone_number_id="1001",
            display_phone_number="+14155550101",
            is_active=True,
        )
    )
    history = FakeHistory({"+33600000002": returning})
    published = Published()
    handler = IdentifyMessages(whatsapp, TwilioDirectory(), history, timedelta(days=90), published)
    batch = [
        received(_message("+33600000001", "+14155550101")),  # by config
        received(_message("+33600000002")),  # by history
        received(_message("+33600000003")),  # nobody
    ]
    await handler(batch)

    assert history.reads == [{"+33600000002", "+33600000003"}]
    assert history.writes == [{"+33600000001": tenant, "+33600000002": returning}]
    answers = published.of_type(UserIdentified)
    assert [(a.user_id, a.identified_by) for a in answers] == [
        (tenant, IdentifiedBy.WHATSAPP_CONFIG),
        (returning, IdentifiedBy.CONVERSATION_HISTORY),
        (None, IdentifiedBy.NONE),
    ]
    assert [out.key for out in published.events] == [m.event.conversation_key for m in batch]
    assert [a.message_id for a in answers] == [m.event.message_id for m in batch]


async def test_each_answer_says_in_a_header_whether_it_carries_media() -> None:
    published = Published()
    handler = IdentifyMessages(
        WhatsAppDirectory(), TwilioDirectory(), FakeHistory({}), timedelta(days=90), published
    )
    voice = _message("+33600000005", n=1).model_copy(
        update={"media": MediaRef(kind=MediaKind.AUDIO, media_id="M1", voice=True)}
    )
    await handler([received(_message("+33600000004")), received(voice)])
    assert [dict(out.headers) for out in published.events] == [
        {HAS_MEDIA: "0"},
        {HAS_MEDIA: "1"},
    ]
