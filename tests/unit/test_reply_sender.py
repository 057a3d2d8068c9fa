"""The reply sender with in-memory fakes (no database, no broker, no HTTP): splitting,
retries that hold no slot, refusals, claims it does not hold, and a "sent" mark that
cannot be written at first — each reply reaches the provider at most once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.fernet import Fernet

from services.gateway.adapters.outbound_sends import (
    FINAL,
    SENDING,
    Claim,
    Claims,
    SendIntent,
    SendRecord,
)
from services.gateway.adapters.providers import ProviderError
from services.gateway.adapters.providers import failure_of as graph_failure
from services.gateway.adapters.store import StoreUnavailable
from services.gateway.domain.replies import SendFailure, split_text
from services.gateway.entrypoints.reply_sender import ReplySender, SenderSettings
from shared.consumer import BatchResult, Received
from shared.contracts.config_events import TwilioConfigChanged, WhatsAppConfigChanged
from shared.contracts.deliveries import ReplyDelivered, ReplyFailed
from shared.contracts.messages import Channel, ConfigSource, ResponseGenerated
from shared.crypto import SecretBox
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory
from tests.support.seams import Published, received

NUMBER_ID, TOKEN = "1001", "EAAsecret-token"


@dataclass
class Row:
    status: str
    parts_sent: int = 0
    ids: list[str] = field(default_factory=list)
    attempts: int = 1
    leased: bool = True


class FakeSends:
    """The claim table's rules in memory; `down` makes the next calls fail."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.claims: list[list[str]] = []
        self.records: list[list[SendRecord]] = []
        self.renewals = 0
        self.claim_down = 0
        self.record_down = 0

    async def claim(self, intents: Sequence[SendIntent]) -> Claims:
        if self.claim_down:
            self.claim_down -= 1
            raise StoreUnavailable("connection refused")
        self.claims.append([i.message_id for i in intents])
        taken, finished, busy = {}, set(), set()
        for intent in intents:
            row = self.rows.get(intent.message_id)
            if row is None:
                row = self.rows[intent.message_id] = Row(SENDING)
            elif row.status in FINAL:
                finished.add(intent.message_id)
                continue
            elif row.leased:
                busy.add(intent.message_id)
                continue
            else:
                row.attempts += 1
                row.leased = True
            taken[intent.message_id] = Claim(row.parts_sent, list(row.ids), row.attempts)
        return Claims(taken, frozenset(finished), frozenset(busy))

    async def renew(self, message_ids: Collection[str]) -> None:
        self.renewals += 1

    async def part_sent(self, message_id: str, parts_sent: int, ids: list[str]) -> None:
        row = self.rows[message_id]
        row.parts_sent, row.ids = parts_sent, list(ids)

    async def record(self, records: Sequence[SendRecord]) -> None:
        if self.record_down:
            self.record_down -= 1
            raise StoreUnavailable("connection refused")
        self.records.append(list(records))
        for r in records:
            row = self.rows[r.message_id]
            row.status, row.parts_sent, row.ids = r.status, r.parts_sent, r.provider_message_ids
            row.leased = False


class FakeGraph:
    """`fail_with`, one per call: an HTTP status, (status, Meta error code) read as the
    client reads a Graph error body, or None (that call succeeds)."""

    def __init__(
        self, fail_with: list[int | tuple[int, int] | None] | None = None, delay_s: float = 0.0
    ) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_with = list(fail_with or [])
        self.delay_s = delay_s

    async def send_whatsapp_text(
        self, base_url: str, version: str, phone_number_id: str, token: str, to: str, body: str
    ) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        failure = self.fail_with.pop(0) if self.fail_with else None
        if failure is not None:
            if isinstance(failure, tuple):
                status, code = failure
                answer = httpx.Response(status, json={"error": {"code": code}})
                raise ProviderError(graph_failure(answer))
            reason = "provider_unavailable" if failure >= 500 else "provider_rejected"
            raise ProviderError(SendFailure(reason, failure, f"provider answered {failure}"))
        self.sent.append({"to": to, "body": body, "token": token, "id": phone_number_id})
        return f"wamid.out{len(self.sent)}"

    async def send_whatsapp_template(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        to: str,
        name: str,
        language: str,
    ) -> str:
        self.sent.append({"to": to, "template": name, "language": language, "token": token})
        return f"wamid.out{len(self.sent)}"

    async def send_twilio_message(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_: str,
        to: str,
        body: str,
        status_callback: str | None = None,
    ) -> str:
        raise AssertionError("not a Twilio test")


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


def _sender(
    store: FakeSends,
    graph: FakeGraph,
    published: Published,
    lease_s: float = 5.0,
    **extra: Any,
) -> ReplySender:
    box = SecretBox(Fernet.generate_key().decode())
    whatsapp = WhatsAppDirectory()
    whatsapp.apply(
        WhatsAppConfigChanged(
            user_id=uuid.uuid4(),
            phone_number_id=NUMBER_ID,
            display_phone_number="+14155550101",
            is_active=True,
            access_token_encrypted=box.encrypt(TOKEN),
        )
    )
    settings = SenderSettings("http://graph", "v21.0", "http://twilio", 3, lease_s)
    return ReplySender(
        store, graph, whatsapp, TwilioDirectory(), box, published, settings, _no_wait, **extra
    )


def _reply(text: str = "hello", number_id: str = NUMBER_ID) -> Received[ResponseGenerated]:
    customer = f"+3361{uuid.uuid4().int % 10**7:07d}"
    key = f"whatsapp:{number_id}:{customer}"
    event = ResponseGenerated(
        message_id=f"wamid.in{uuid.uuid4().hex}",
        conversation_key=key,
        user_id=uuid.uuid4(),
        channel=Channel.WHATSAPP,
        customer_phone=customer,
        phone_number_id=number_id,
        response=text,
        config_source=ConfigSource.USER,
        model="m",
    )
    return received(event, key)


def _again(item: Received[ResponseGenerated]) -> Received[ResponseGenerated]:
    """The same record handed out again by the consumer (a retry or a redelivery)."""
    return received(item.event, item.event.conversation_key, delivery=item.delivery + 1)


def _verdict(result: BatchResult, item: Received[Any]) -> str | None:
    verdict = result.verdicts.get(id(item))
    return verdict.kind if verdict is not None else None


async def test_a_batch_is_one_claim_one_record_one_publish() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    batch = [_reply(f"answer {i}") for i in range(3)]

    result = await _sender(store, graph, published)(batch)

    assert result.verdicts == {}
    assert len(store.claims) == 1 and len(store.records) == 1
    assert sorted(s["body"] for s in graph.sent) == ["answer 0", "answer 1", "answer 2"]
    assert {s["token"] for s in graph.sent} == {TOKEN}
    delivered = published.of_type(ReplyDelivered)
    assert [d.message_id for d in delivered] == [item.event.message_id for item in batch]
    assert [out.key for out in published.events] == [i.event.conversation_key for i in batch]


async def test_a_long_reply_goes_out_in_parts_in_order() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    text = " ".join(f"word{i}" for i in range(1000))  # 7,889 characters: two parts
    item = _reply(text)

    await _sender(store, graph, published)([item])

    assert [s["body"] for s in graph.sent] == split_text(text, 4096)
    assert len(graph.sent) == 2
    [delivered] = published.of_type(ReplyDelivered)
    assert delivered.parts == 2 and delivered.provider_message_ids == ["wamid.out1", "wamid.out2"]
    assert store.rows[item.event.message_id].parts_sent == 2


async def test_a_5xx_gives_the_lease_back_and_the_next_try_sends_once() -> None:
    store, graph, published = FakeSends(), FakeGraph(fail_with=[503]), Published()
    sender = _sender(store, graph, published)
    item = _reply()

    first = await sender([item])

    assert _verdict(first, item) == "retry"  # waits on the consumer's timer, no slot held
    assert graph.sent == [] and published.events == []
    assert store.rows[item.event.message_id].status == SENDING
    retry = _again(item)
    second = await sender([retry])

    assert _verdict(second, retry) is None
    assert len(graph.sent) == 1
    assert [d.message_id for d in published.of_type(ReplyDelivered)] == [item.event.message_id]


async def test_5xx_on_the_last_allowed_try_ends_in_reply_failed() -> None:
    store, graph, published = FakeSends(), FakeGraph(fail_with=[500, 502, 503]), Published()
    sender = _sender(store, graph, published)
    item = _reply()
    for _ in range(3):
        await sender([item])
        item = _again(item)

    [failed] = published.of_type(ReplyFailed)
    assert (failed.reason, failed.status_code, failed.attempts) == ("provider_unavailable", 503, 3)
    assert graph.sent == []


async def test_a_4xx_ends_in_reply_failed_at_once() -> None:
    store, graph, published = FakeSends(), FakeGraph(fail_with=[401]), Published()
    item = _reply()

    result = await _sender(store, graph, published)([item])

    assert _verdict(result, item) is None
    [failed] = published.of_type(ReplyFailed)
    assert (failed.reason, failed.status_code, failed.attempts) == ("provider_rejected", 401, 1)
    assert store.rows[item.event.message_id].status == "failed"
    assert TOKEN not in failed.detail


async def test_no_account_for_the_number_ends_in_reply_failed() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()

    await _sender(store, graph, published)([_reply(number_id="unknown")])

    [failed] = published.of_type(ReplyFailed)
    assert failed.reason == "no_account" and graph.sent == []


async def test_a_claim_held_elsewhere_or_already_sent_sends_nothing() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    busy, done = _reply(), _reply()
    store.rows[busy.event.message_id] = Row(SENDING, leased=True)
    store.rows[done.event.message_id] = Row("sent", parts_sent=1, ids=["wamid.old"])

    result = await _sender(store, graph, published)([busy, done])

    assert graph.sent == [] and published.events == [] and store.records == []
    assert _verdict(result, busy) == "retry"  # until the other worker's lease runs out
    assert _verdict(result, done) is None


async def test_a_database_outage_before_the_claim_sends_nothing_and_waits() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    store.claim_down = 1
    item = _reply()

    result = await _sender(store, graph, published)([item])

    assert _verdict(result, item) == "retry"
    assert graph.sent == [] and published.events == []


async def test_a_sent_mark_that_fails_is_retried_and_the_reply_never_sent_again() -> None:
    store, graph, published = FakeSends(), FakeGraph(), Published()
    store.record_down = 3  # the database is gone right after the provider accepted
    sender = _sender(store, graph, published)
    item = _reply()

    result = await sender([item])

    assert _verdict(result, item) is None
    assert len(graph.sent) == 1
    assert store.rows[item.event.message_id].status == "sent"
    assert len(published.of_type(ReplyDelivered)) == 1
    await sender([_again(item)])  # a redelivery after the mark landed
    assert len(graph.sent) == 1


async def test_the_lease_is_renewed_while_a_send_is_slow() -> None:
    store, graph, published = FakeSends(), FakeGraph(delay_s=0.05), Published()

    await _sender(store, graph, published, lease_s=0.03)([_reply()])

    assert store.renewals >= 1 and len(graph.sent) == 1


def test_long_replies_are_split_at_word_boundaries_within_the_limit() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    parts = split_text(text, 4096)
    assert len(parts) == 5  # 16,889 characters
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == text
    assert split_text("short") == ["short"]
    assert all(len(p) <= 100 for p in split_text("x" * 250, 100))


class FakeTwilio(FakeGraph):
    async def send_twilio_message(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_: str,
        to: str,
        body: str,
        status_callback: str | None = None,
    ) -> str:
        self.sent.append({"from": from_, "to": to, "body": body, "callback": status_callback})
        return f"SMout{len(self.sent)}"


async def test_twilio_replies_ask_for_their_statuses_on_whatsapp_and_sms() -> None:
    store, twilio_api, published = FakeSends(), FakeTwilio(), Published()
    box, twilio = SecretBox(Fernet.generate_key().decode()), TwilioDirectory()
    number, callback = "+14155550199", "https://gw.example/webhooks/twilio/status"
    twilio.apply(
        TwilioConfigChanged(
            user_id=uuid.uuid4(),
            account_sid="AC1",
            phone_number=number,
            is_active=True,
            auth_token_encrypted=box.encrypt("twilio-token"),
        )
    )
    settings = SenderSettings(
        "http://graph", "v21.0", "http://twilio", 3, 5.0, twilio_status_callback=callback
    )
    sender = ReplySender(
        store, twilio_api, WhatsAppDirectory(), twilio, box, published, settings, _no_wait
    )
    batch = []
    for source in ("whatsapp", "sms"):
        customer = f"+3361{uuid.uuid4().int % 10**7:07d}"
        key = f"twilio:{number}:{customer}"
        event = ResponseGenerated(
            message_id=f"SMin{uuid.uuid4().hex}",
            conversation_key=key,
            user_id=uuid.uuid4(),
            channel=Channel.TWILIO,
            source=source,
            customer_phone=customer,
            business_phone=number,
            response=f"over {source}",
            config_source=ConfigSource.USER,
            model="m",
        )
        batch.append(received(event, key))

    await sender(batch)

    sent = sorted(twilio_api.sent, key=lambda s: s["body"])
    assert [(s["from"], s["callback"]) for s in sent] == [
        (number, callback),
        (f"whatsapp:{number}", callback),
    ]
    assert len(published.of_type(ReplyDelivered)) == 2
