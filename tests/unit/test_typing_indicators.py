"""Typing and read on TurnStarted, with an in-memory provider: one call at once, refreshed
until the reply is seen, never when nobody will answer or the tenant turned it off, and a
refused call never raises into the consumer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet

from services.gateway.adapters.providers import ProviderError
from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.replies import SendFailure
from services.gateway.entrypoints.outcomes import GatewayOutcomes
from services.gateway.entrypoints.typing_indicators import IndicatorSettings, TypingIndicators
from shared.consumer import BatchResult, Received
from shared.contracts.config_events import (
    ConversationSettingsChanged,
    TwilioConfigChanged,
    WhatsAppConfigChanged,
)
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    TurnStarted,
)
from shared.contracts.messages import Channel, ConfigSource, MessageOutcome, ResponseGenerated
from shared.crypto import SecretBox
from shared.views.conversation_owners import ConversationOwners
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory
from tests.support.seams import received

NUMBER_ID, TOKEN, TWILIO_NUMBER = "1001", "EAAtoken", "+14155550199"


class FakeIndicators:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse

    async def whatsapp_read(
        self, base_url: str, version: str, number_id: str, token: str, message_id: str, typing: bool
    ) -> None:
        self.calls.append({"message_id": message_id, "typing": typing, "token": token})
        if self.refuse:
            raise ProviderError(SendFailure("provider_rejected", 400, "no"))

    async def twilio_typing(
        self, base_url: str, sid: str, auth_token: str, message_sid: str
    ) -> None:
        self.calls.append({"message_id": message_sid, "typing": True, "token": auth_token})


class World:
    def __init__(self, refuse: bool = False, refresh_s: float = 0.05) -> None:
        self.user_id = uuid.uuid4()
        box = SecretBox(Fernet.generate_key().decode())
        whatsapp, twilio = WhatsAppDirectory(), TwilioDirectory()
        whatsapp.apply(
            WhatsAppConfigChanged(
                user_id=self.user_id,
                phone_number_id=NUMBER_ID,
                display_phone_number="+14155550101",
                is_active=True,
                access_token_encrypted=box.encrypt(TOKEN),
            )
        )
        twilio.apply(
            TwilioConfigChanged(
                user_id=self.user_id,
                account_sid="AC1",
                phone_number=TWILIO_NUMBER,
                is_active=True,
                auth_token_encrypted=box.encrypt("twilio-token"),
            )
        )
        self.settings, self.owners = ConversationSettingsView(), ConversationOwners()
        self.provider = FakeIndicators(refuse)
        self.typing = TypingIndicators(
            self.provider,
            whatsapp,
            twilio,
            box,
            self.settings,
            self.owners,
            IndicatorSettings("http://graph", "v21.0", "http://twilio", refresh_s=refresh_s),
        )

    def turn(self, channel: Channel = Channel.WHATSAPP, **kw: Any) -> TurnStarted:
        business = NUMBER_ID if channel == Channel.WHATSAPP else TWILIO_NUMBER
        key = f"{channel.value}:{business}:+33612345678"
        last = (
            f"wamid.{uuid.uuid4().hex}" if channel == Channel.WHATSAPP else f"SM{uuid.uuid4().hex}"
        )
        fields: dict[str, Any] = {
            "message_id": last,
            "conversation_key": key,
            "user_id": self.user_id,
            "channel": channel,
            "customer_phone": "+33612345678",
            "phone_number_id": NUMBER_ID if channel == Channel.WHATSAPP else None,
            "business_phone": TWILIO_NUMBER if channel == Channel.TWILIO else None,
            "turn_message_ids": [last],
            "source": "whatsapp",
        }
        return TurnStarted(**{**fields, **kw})


async def _until(predicate: Any, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_turn_marks_read_and_types_until_its_reply_is_seen() -> None:
    world = World()
    turn = world.turn()

    await world.typing([received(turn, turn.conversation_key)])
    await _until(lambda: len(world.provider.calls) >= 3)  # refreshed every 50 ms here
    world.typing.stop(turn.conversation_key)
    await asyncio.sleep(0.15)
    calls = len(world.provider.calls)
    await asyncio.sleep(0.15)

    assert len(world.provider.calls) == calls  # stopped
    assert {c["message_id"] for c in world.provider.calls} == {turn.message_id}
    assert all(c["typing"] and c["token"] == TOKEN for c in world.provider.calls)
    assert len(world.typing) == 0


async def test_read_receipts_only_mark_read_once_and_off_means_no_call() -> None:
    world = World()
    world.settings.apply(
        ConversationSettingsChanged(user_id=world.user_id, typing_indicator=False, version=1)
    )
    turn = world.turn()
    world.typing.start(turn)
    await _until(lambda: len(world.typing) == 0)
    assert [c["typing"] for c in world.provider.calls] == [False]

    world.settings.apply(
        ConversationSettingsChanged(
            user_id=world.user_id, typing_indicator=False, read_receipts=False, version=2
        )
    )
    world.typing.start(world.turn())
    await asyncio.sleep(0.05)
    assert len(world.provider.calls) == 1


async def test_no_typing_when_a_human_or_a_pause_owns_the_conversation_or_the_turn_is_old() -> None:
    world = World()
    turn = world.turn()
    world.owners.apply(
        ConversationOwnerChanged(
            user_id=world.user_id,
            conversation_key=turn.conversation_key,
            owner=ConversationOwner.PAUSED,
            changed_by=OwnerChangedBy.TENANT_API,
        )
    )
    world.typing.start(turn)
    world.typing.start(
        world.turn(
            conversation_key="whatsapp:1001:+33699999999",
            occurred_at=datetime.now(UTC) - timedelta(minutes=5),
        )
    )
    await asyncio.sleep(0.05)
    assert world.provider.calls == [] and len(world.typing) == 0


async def test_a_refused_call_is_counted_not_raised_and_close_stops_everything() -> None:
    world = World(refuse=True, refresh_s=10)
    world.typing.start(world.turn())
    world.typing.start(world.turn(Channel.TWILIO))
    await _until(lambda: len(world.provider.calls) == 2)
    assert len(world.typing) == 2  # both still waiting to refresh

    await world.typing.close()

    assert len(world.typing) == 0
    assert {c["message_id"][:2] for c in world.provider.calls} == {"wa", "SM"}


async def test_an_sms_turn_over_twilio_gets_no_typing_call() -> None:
    world = World(refresh_s=10)
    world.typing.start(world.turn(Channel.TWILIO, source="sms"))
    world.typing.start(world.turn(Channel.TWILIO, source=""))  # a turn that does not say
    whatsapp = world.turn(Channel.TWILIO)
    world.typing.start(whatsapp)
    await _until(lambda: len(world.provider.calls) == 1)
    await asyncio.sleep(0.05)

    assert [c["message_id"] for c in world.provider.calls] == [whatsapp.message_id]
    await world.typing.close()


class NullHandler:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, batch: Any) -> BatchResult:
        self.seen.extend(item.event.message_id for item in batch)
        return BatchResult()


async def test_the_outcomes_router_starts_typing_on_a_turn_and_stops_it_on_the_reply() -> None:
    world = World(refresh_s=10)
    turn = world.turn()
    reply = ResponseGenerated(
        message_id=turn.message_id,
        conversation_key=turn.conversation_key,
        user_id=world.user_id,
        channel=Channel.WHATSAPP,
        customer_phone="+33612345678",
        phone_number_id=NUMBER_ID,
        response="hi",
        config_source=ConfigSource.USER,
        model="m",
    )
    record, send = NullHandler(), NullHandler()
    route = GatewayOutcomes(record, send, world.typing)

    await route([received(turn, turn.conversation_key)])
    await _until(lambda: len(world.provider.calls) == 1)
    assert len(world.typing) == 1 and send.seen == []
    earlier = reply.model_copy(update={"message_id": "wamid.an-earlier-message"})
    await route([received(earlier, reply.conversation_key)])
    assert len(world.typing) == 1  # not this turn's reply: the indicator stays
    item: Received[MessageOutcome] = received(reply, reply.conversation_key)
    await route([item])

    assert send.seen == [earlier.message_id, turn.message_id]
    await _until(lambda: len(world.typing) == 0)
