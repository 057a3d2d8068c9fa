"""The gateway's HTTP routes (WhatsApp GET/POST, Twilio, the chatbot API) with in-memory
fakes through the typed dependencies: real settings, secret box, directories and outcome
waiters; an inbound store that keeps what it would have committed and published."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import BaseModel

from services.gateway.adapters.inbound import Acceptance, ProviderAcceptance, ProviderDelivery
from services.gateway.adapters.outcomes import OutcomeWaiters
from services.gateway.domain import twilio_status
from services.gateway.domain.echoes import Echo
from services.gateway.domain.whatsapp import STATUS_MAX
from services.gateway.entrypoints import chatbot, webhooks
from services.gateway.entrypoints.deps import GatewayComponents
from services.gateway.settings import GatewaySettings
from shared.contracts.config_events import TwilioConfigChanged, WhatsAppConfigChanged
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import (
    Channel,
    ConfigSource,
    MessageOutcome,
    MessageReceived,
    ResponseGenerated,
)
from shared.crypto import SecretBox
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory
from tests.support.providers import (
    meta_signature,
    text_message,
    twilio_signature,
    whatsapp_payload,
)

KEY = Fernet.generate_key().decode()
API_KEY = "route-test-key"
APP_SECRET = "tenant-app-secret"
VERIFY_TOKEN = "tenant-verify-token"
AUTH_TOKEN = "twilio-auth-token"
NUMBER_ID, NUMBER = "1001", "+14155550101"
TWILIO_NUMBER = "+14155550199"
TWILIO_URL = "http://test/webhooks/twilio"


class FakeInbound:
    """The inbound store's contract without a database: a message id (or a receipt's id and
    status) is new once; what is new is 'published', what is not is a duplicate."""

    def __init__(self, waiters: OutcomeWaiters) -> None:
        self.published: list[BaseModel] = []
        self.fingerprints: dict[str, str] = {}
        self.receipts: set[tuple[str, str]] = set()
        self.echoes: list[Echo] = []
        self.down = False
        self._waiters = waiters
        self.answer: str | None = None  # the 'responder': resolves the waiter when set
        self.outcomes: list[MessageOutcome] = []  # kept on their rows before the answer

    async def accept(self, event: MessageReceived, fingerprint: str) -> Acceptance:
        self._check()
        known = self.fingerprints.get(event.message_id)
        if known is None:
            self.fingerprints[event.message_id] = fingerprint
            self._publish(event)
            return Acceptance(True, 1, fingerprint, None)
        return Acceptance(False, 1, known, None)

    async def record_outcome(self, outcome: MessageOutcome) -> None:
        self.outcomes.append(outcome)

    async def accept_provider_delivery(self, delivery: ProviderDelivery) -> ProviderAcceptance:
        self._check()
        answered, recorded, receipts, echoes = (
            delivery.answered,
            delivery.recorded,
            delivery.receipts,
            delivery.echoes,
        )
        self.echoes.extend(echoes)  # staged in the same unit as the rest
        published = duplicates = 0
        for event in answered:
            if event.message_id in self.fingerprints:
                duplicates += 1
            else:
                self.fingerprints[event.message_id] = "provider"
                self._publish(event)
                published += 1
        for message_id, _, _ in recorded:
            duplicates += message_id in self.fingerprints
            self.fingerprints.setdefault(message_id, "provider")
        for receipt in receipts:
            key = (receipt.provider_message_id, receipt.status)
            if key not in self.receipts:
                self.receipts.add(key)
                self._publish(receipt)
                published += 1
        return ProviderAcceptance(published, duplicates)

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("database away")

    def _publish(self, event: BaseModel) -> None:
        self.published.append(event)
        if self.answer is not None and isinstance(event, MessageReceived):
            outcome = ResponseGenerated(
                message_id=event.message_id,
                conversation_key=event.conversation_key,
                user_id=None,
                channel=event.channel,
                customer_phone=event.customer_phone,
                response=self.answer,
                config_source=ConfigSource.FALLBACK,
                model="fake-model",
            )
            asyncio.get_running_loop().call_soon(self._waiters.resolve, outcome)


def _settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": "unused:9092",
        "database_url": "postgresql+asyncpg://unused/unused",
        "secrets_key": KEY,
        "gateway_api_keys": API_KEY,
        "gateway_reply_timeout_s": 2.0,
        "webhook_max_body_bytes": 4096,
        **overrides,
    }
    return GatewaySettings(**values)


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        box = SecretBox(KEY)
        self.whatsapp, self.twilio = WhatsAppDirectory(), TwilioDirectory()
        self.whatsapp.apply(
            WhatsAppConfigChanged(
                user_id=uuid.uuid4(),
                phone_number_id=NUMBER_ID,
                display_phone_number=NUMBER,
                is_active=True,
                app_secret_encrypted=box.encrypt(APP_SECRET),
                verify_token_encrypted=box.encrypt(VERIFY_TOKEN),
            )
        )
        self.twilio.apply(
            TwilioConfigChanged(
                user_id=uuid.uuid4(),
                account_sid="AC1",
                phone_number=TWILIO_NUMBER,
                is_active=True,
                auth_token_encrypted=box.encrypt(AUTH_TOKEN),
            )
        )
        waiters = OutcomeWaiters()
        self.inbound = FakeInbound(waiters)
        unused = cast(Any, None)  # what only readiness and the consumers use
        self.app = FastAPI()
        self.app.include_router(webhooks.router)
        self.app.include_router(chatbot.router)
        self.app.state.components = GatewayComponents(
            settings=settings,
            secret_box=box,
            whatsapp=self.whatsapp,
            twilio=self.twilio,
            inbound=self.inbound,
            waiters=waiters,
            engine=unused,
            broker=unused,
            feed=unused,
            listener=unused,
            outcomes=unused,
        )

    @property
    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    yield Gateway(_settings())


async def _whatsapp(gateway: Gateway, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    async with gateway.client as client:
        return await client.post("/webhooks/whatsapp", content=body, headers=headers)


# WhatsApp -------------------------------------------------------------------------------------
async def test_subscription_answers_the_challenge_only_for_a_known_token(gateway: Gateway) -> None:
    async with gateway.client as client:
        ok = await client.get(
            "/webhooks/whatsapp",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "42",
            },
        )
        wrong = await client.get(
            "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "42"},
        )
    assert (ok.status_code, ok.text) == (200, "42")
    assert (wrong.status_code, wrong.text) == (403, "verification failed")


@pytest.mark.parametrize("signature", [None, "sha256=00", "forged"])
async def test_an_unsigned_or_forged_delivery_is_401_and_stages_nothing(
    gateway: Gateway, signature: str | None
) -> None:
    body = whatsapp_payload(NUMBER_ID, NUMBER, [text_message("+33612345678", "hi")])
    if signature == "forged":
        signature = meta_signature(body, "not-the-tenants-secret")

    response = await _whatsapp(gateway, body, signature)

    assert response.status_code == 401
    assert response.json() == {"success": False, "error": "invalid signature"}
    assert gateway.inbound.published == []


async def test_a_signed_delivery_stages_each_message_and_receipt_once(gateway: Gateway) -> None:
    message = text_message("+33612345678", "hello")
    receipt = {"id": "wamid.out1", "status": "read", "timestamp": "1", "recipient_id": "1"}
    body = whatsapp_payload(NUMBER_ID, NUMBER, [message], statuses=[receipt])

    first = await _whatsapp(gateway, body, meta_signature(body, APP_SECRET))
    again = await _whatsapp(gateway, body, meta_signature(body, APP_SECRET))

    assert (first.status_code, first.json()) == (200, {"success": True})
    assert again.status_code == 200  # Meta redelivers: acknowledged, nothing staged twice
    received, status = gateway.inbound.published
    assert isinstance(received, MessageReceived) and isinstance(status, DeliveryStatusReported)
    assert (received.message_id, received.text, received.channel) == (
        message["id"],
        "hello",
        Channel.WHATSAPP,
    )
    assert received.conversation_key == f"whatsapp:{NUMBER_ID}:+33612345678"
    assert (received.customer_phone, received.phone_number_id) == ("+33612345678", NUMBER_ID)
    assert (status.provider_message_id, status.status) == ("wamid.out1", "read")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"x" * 5000, 413, "payload too large"),
        (b'{"object": "whatsapp_business_account", "entry": [', 400, None),
        (b'{"object": "page"}', 400, "not a whatsapp_business_account webhook"),
        (
            b"{" + b", ".join(b'"phone_number_id": "%d"' % n for n in range(65)) + b"}",
            400,
            "too many phone numbers in one delivery",
        ),
    ],
)
async def test_bad_bodies_get_their_status_and_stage_nothing(
    body: bytes, status: int, error: str | None
) -> None:
    gateway = Gateway(_settings(whatsapp_app_secret="global-secret"))
    response = await _whatsapp(gateway, body, meta_signature(body, "global-secret"))

    assert response.status_code == status
    assert response.json()["success"] is False
    if error is not None:
        assert response.json()["error"] == error
    assert gateway.inbound.published == []


async def test_a_store_outage_is_500_so_meta_redelivers(gateway: Gateway) -> None:
    gateway.inbound.down = True
    body = whatsapp_payload(NUMBER_ID, NUMBER, [text_message("+33612345678", "hi")])

    response = await _whatsapp(gateway, body, meta_signature(body, APP_SECRET))

    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "temporarily unavailable"}


async def test_business_echoes_go_to_the_store_with_the_delivery_itself(
    gateway: Gateway,
) -> None:
    echo = {"from": NUMBER[1:], "to": "33612345678", "id": "wamid.ECHO1", "type": "text"}
    change = {
        "field": "smb_message_echoes",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": NUMBER[1:], "phone_number_id": NUMBER_ID},
            "message_echoes": [echo],
        },
    }
    body = json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [change]}]}
    ).encode()

    response = await _whatsapp(gateway, body, meta_signature(body, APP_SECRET))
    gateway.inbound.down = True  # the same delivery again while the store is away: 500
    again = await _whatsapp(gateway, body, meta_signature(body, APP_SECRET))

    assert (response.status_code, again.status_code) == (200, 500)
    [seen] = gateway.inbound.echoes  # one accept call carried it: one transaction
    assert (seen.wamid, seen.customer) == ("wamid.ECHO1", "+33612345678")


# Twilio ---------------------------------------------------------------------------------------
async def _twilio(gateway: Gateway, params: dict[str, str], signature: str) -> httpx.Response:
    async with gateway.client as client:
        return await client.post(
            "/webhooks/twilio", data=params, headers={"x-twilio-signature": signature}
        )


def _form(text: str = "hola", sid: str = "SM1") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "From": "whatsapp:+33612345678",
        "To": f"whatsapp:{TWILIO_NUMBER}",
        "Body": text,
        "NumMedia": "0",
    }


async def test_twilio_signed_message_is_staged_once_and_answered_with_empty_twiml(
    gateway: Gateway,
) -> None:
    params = _form()
    signature = twilio_signature(AUTH_TOKEN, TWILIO_URL, params)

    first = await _twilio(gateway, params, signature)
    again = await _twilio(gateway, params, signature)

    assert first.status_code == again.status_code == 200
    assert first.text == webhooks.EMPTY_TWIML
    [event] = gateway.inbound.published
    assert isinstance(event, MessageReceived)
    assert (event.message_id, event.text, event.source) == ("SM1", "hola", "whatsapp")
    assert event.conversation_key == f"twilio:{TWILIO_NUMBER}:+33612345678"


@pytest.mark.parametrize("signed_with", ["wrong-token", None])
async def test_twilio_wrong_or_missing_signature_is_403(
    gateway: Gateway, signed_with: str | None
) -> None:
    params = _form()
    signature = twilio_signature(signed_with, TWILIO_URL, params) if signed_with else ""

    response = await _twilio(gateway, params, signature)

    assert (response.status_code, response.json()["error"]) == (403, "invalid signature")
    assert gateway.inbound.published == []


STATUS_URL = "http://test/webhooks/twilio/status"


def _status_form(status: str, sid: str = "SMout1", **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC1",
        "From": f"whatsapp:{TWILIO_NUMBER}",  # our number: its owner signs
        "To": "whatsapp:+33612345678",
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
        **extra,
    }


async def _twilio_status(
    gateway: Gateway, params: dict[str, str], token: str = AUTH_TOKEN
) -> httpx.Response:
    async with gateway.client as client:
        return await client.post(
            "/webhooks/twilio/status",
            data=params,
            headers={"x-twilio-signature": twilio_signature(token, STATUS_URL, params)},
        )


async def test_twilio_statuses_are_staged_once_each_and_a_failure_carries_its_reason(
    gateway: Gateway,
) -> None:
    sent, delivered = _status_form("sent"), _status_form("delivered")
    failed = _status_form("undelivered", "SMout2", ErrorCode="63016")

    answers = [await _twilio_status(gateway, form) for form in (sent, sent, delivered, failed)]

    assert [a.status_code for a in answers] == [204] * 4
    receipts = [e for e in gateway.inbound.published if isinstance(e, DeliveryStatusReported)]
    assert [(r.provider_message_id, r.status, r.reason) for r in receipts] == [
        ("SMout1", "sent", None),
        ("SMout1", "delivered", None),
        ("SMout2", "undelivered", "window_closed"),
    ]
    assert receipts[2].errors[0]["code"] == 63016
    assert receipts[0].channel == Channel.TWILIO and receipts[0].recipient == "+33612345678"
    assert not [e for e in gateway.inbound.published if isinstance(e, MessageReceived)]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("21610", "recipient_unsubscribed"),
        ("20429", "throughput_exceeded"),
        ("1", "provider_rejected"),
    ],
)
async def test_a_failed_twilio_status_is_classified_by_its_error_code(
    gateway: Gateway, code: str, reason: str
) -> None:
    response = await _twilio_status(gateway, _status_form("failed", ErrorCode=code))

    assert response.status_code == 204
    [receipt] = gateway.inbound.published
    assert isinstance(receipt, DeliveryStatusReported) and receipt.reason == reason


async def test_a_twilio_status_is_refused_unless_signed_by_the_sending_number(
    gateway: Gateway,
) -> None:
    wrong = await _twilio_status(gateway, _status_form("sent"), token="wrong-token")
    not_ours = await _twilio_status(gateway, _status_form("sent", From="+19995550000"))

    assert (wrong.status_code, not_ours.status_code) == (403, 403)
    assert gateway.inbound.published == []


async def test_a_twilio_status_without_one_is_400_and_an_unknown_one_ignored(
    gateway: Gateway,
) -> None:
    missing = await _twilio_status(gateway, _status_form(""))
    unknown = await _twilio_status(gateway, _status_form("teleported"))

    assert (missing.status_code, missing.json()["error"]) == (
        400,
        "MessageSid and MessageStatus are required",
    )
    assert unknown.status_code == 204
    assert gateway.inbound.published == []


def test_every_twilio_status_taken_fits_the_receipts_column() -> None:
    assert all(len(status) <= STATUS_MAX for status in twilio_status.STATUSES)


async def test_a_twilio_status_during_a_store_outage_is_500(gateway: Gateway) -> None:
    gateway.inbound.down = True

    response = await _twilio_status(gateway, _status_form("delivered"))

    assert response.status_code == 500


async def test_twilio_without_message_sid_is_400(gateway: Gateway) -> None:
    params = {key: value for key, value in _form().items() if key != "MessageSid"}

    response = await _twilio(gateway, params, twilio_signature(AUTH_TOKEN, TWILIO_URL, params))

    assert (response.status_code, response.json()["error"]) == (
        400,
        "MessageSid and From are required",
    )


# The chatbot API ------------------------------------------------------------------------------
async def _chat(gateway: Gateway, body: object, key: str = API_KEY) -> httpx.Response:
    async with gateway.client as client:
        return await client.post(
            "/api-chatbot", json=body, headers={"authorization": f"Bearer {key}"}
        )


async def test_chatbot_stages_the_message_and_answers_with_its_outcome(gateway: Gateway) -> None:
    gateway.inbound.answer = "hello back"
    body = {"text": "hi", "source": "web", "phoneNumber": "+33612345678", "messageId": "m-1"}

    response = await _chat(gateway, body)

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert "hello back" in response.text
    [event] = gateway.inbound.published
    assert isinstance(event, MessageReceived) and event.conversation_key == "api:-:+33612345678"
    # kept on its row before the answer, so an immediate retry is answered from it
    assert [outcome.message_id for outcome in gateway.inbound.outcomes] == ["m-1"]


async def test_chatbot_refusals_stage_nothing(gateway: Gateway) -> None:
    gateway.inbound.answer = "ok"
    body = {"text": "hi", "source": "web", "phoneNumber": "+33612345678", "messageId": "m-2"}
    await _chat(gateway, body)
    published = list(gateway.inbound.published)

    unauthorized = await _chat(gateway, body, key="wrong")
    reused = await _chat(gateway, {**body, "text": "another message"})
    invalid = await _chat(gateway, {"text": "", "source": "web"})

    assert unauthorized.status_code == 401
    assert reused.status_code == 409
    assert invalid.status_code == 422
    assert gateway.inbound.published == published
