"""The responder's handler with in-memory fakes: every Groq failure mapped to its outcome
(or to a later try), the fallback, missing and unreadable config, idempotent replays."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from services.responder.adapters.groq_client import Completion
from services.responder.domain.conversation import Admission, BotReply, Turn
from services.responder.domain.failures import GroqFailure
from services.responder.domain.groq_settings import GroqSettingsView
from services.responder.domain.limits import Increment
from services.responder.domain.retry import RetryPolicy
from services.responder.entrypoints.answer_common import AnswerSettings
from services.responder.entrypoints.consumers import AnswerMessages
from shared.consumer import Received, RetryLater
from shared.contracts.config_events import GroqConfigChanged
from shared.contracts.media import MediaOutcome, MediaResolved
from shared.contracts.messages import (
    Channel,
    ConfigSource,
    FailureReason,
    IdentifiedBy,
    MediaKind,
    MediaRef,
    ResponseFailed,
    ResponseGenerated,
    UserIdentified,
)
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.crypto import SecretBox
from shared.groq_models import DEFAULT_CHAT_MODEL
from shared.messaging import Outgoing
from tests.support.groq import GroqCall, InMemoryGroq
from tests.support.seams import Published, received

BOX = SecretBox(Fernet.generate_key().decode())
TENANT = uuid.uuid4()


class FakeStore:
    """The conversation store in memory; the limit counters (issue 16) counted as the SQL
    store counts them: with a message's row when it is new, with a reply when stored."""

    def __init__(self, prior: BotReply | None = None, history: Sequence[Turn] = ()) -> None:
        self.prior, self.history = prior, history
        self.admitted: list[str] = []
        self.saved: list[tuple[str, BotReply]] = []
        self.transcribed: list[tuple[str, str]] = []
        self.counters: dict[tuple[str, int], int] = {}
        self.counted: list[str] = []  # which statement carried counters: admit, save_reply

    async def admit(self, message: UserIdentified, counting: Sequence[Increment] = ()) -> Admission:
        stored = message.message_id in self.admitted or any(
            message.message_id == m for m, _ in self.transcribed
        )
        self.admitted.append(message.message_id)
        counts = self._count("admit", counting, seen=stored)
        return Admission(self.prior, self.history, counts)

    async def save_reply(
        self, message: UserIdentified, reply: BotReply, counting: Sequence[Increment] = ()
    ) -> BotReply:
        stored = any(message.message_id == m for m, _ in self.saved)
        self.saved.append((message.message_id, reply))
        self._count("save_reply", counting, seen=stored)
        return reply

    def _count(self, statement: str, counting: Sequence[Increment], *, seen: bool) -> list[int]:
        if not counting:
            return []
        self.counted.append(statement)
        counts = []
        for increment in counting:
            key = (increment.scope, increment.bucket)
            add = increment.add_if_seen if seen else increment.add
            self.counters[key] = self.counters.get(key, 0) + add
            counts.append(self.counters[key])
        return counts

    async def transcribe(self, message: UserIdentified) -> None:
        self.transcribed.append((message.message_id, message.text))


class FakeGroq(InMemoryGroq):
    def __init__(self, failure: GroqFailure | None = None) -> None:
        super().__init__()
        self.failure = failure

    @property
    def calls(self) -> list[dict[str, object]]:
        return [
            {"api_key": c.api_key, "model": c.model, "messages": c.messages} for c in self.received
        ]

    def answer(self, call: GroqCall) -> Completion:
        if self.failure is not None:
            raise self.failure
        return Completion(f"reply to {call.messages[-1]['content']}", 12, 7)


def _view(
    tenant_key: str | None = "gsk_tenant", fallback_key: str | None = None
) -> GroqSettingsView:
    view = GroqSettingsView()
    for user, key, model in ((TENANT, tenant_key, "tenant-model"), (None, fallback_key, "fb")):
        if key is not None:
            encrypted = key if key.startswith("!") else BOX.encrypt(key)
            view.apply(
                GroqConfigChanged(
                    user_id=user, api_key_encrypted=encrypted, model=model, temperature=0.3
                )
            )
    return view


def _message(
    channel: Channel = Channel.WHATSAPP, user: uuid.UUID | None = TENANT
) -> UserIdentified:
    return UserIdentified(
        message_id=f"wamid.{uuid.uuid4().hex}",
        conversation_key=f"{channel.value}:pn1:+33600000001",
        channel=channel,
        source="whatsapp",
        customer_phone="+33600000001",
        phone_number_id="pn1",
        text="bonjour",
        received_at=datetime.now(UTC).isoformat(),
        user_id=user,
        identified_by=IdentifiedBy.WHATSAPP_CONFIG if user else IdentifiedBy.NONE,
    )


def _handler(
    view: GroqSettingsView, store: FakeStore, groq: FakeGroq, published: Published
) -> AnswerMessages:
    settings = AnswerSettings("be brief", "http://groq.test", RetryPolicy(api_retries=2))
    return AnswerMessages(view, store, groq, BOX, published, settings)


async def _run(
    failure: GroqFailure | None = None,
    *,
    channel: Channel = Channel.WHATSAPP,
    delivery: int = 1,
    elapsed_s: float = 0.0,
    view: GroqSettingsView | None = None,
    user: uuid.UUID | None = TENANT,
) -> tuple[Published, FakeGroq, FakeStore]:
    store, groq, published = FakeStore(), FakeGroq(failure), Published()
    item: Received[UserIdentified] = received(_message(channel, user), delivery=delivery)
    item = dataclasses.replace(item, first_handled_at=time.monotonic() - elapsed_s)
    await _handler(view or _view(), store, groq, published)(item)
    return published, groq, store


def _outcome_records(published: Published) -> list[Outgoing]:
    """What went to the outcomes topic (key-health facts go to groq.health.v1)."""
    return [out for out in published.events if out.topic == MESSAGE_OUTCOMES]


def _only_failure(published: Published) -> ResponseFailed:
    [event] = [out.event for out in _outcome_records(published)]
    assert isinstance(event, ResponseFailed)
    return event


async def test_a_reply_is_stored_then_announced_under_the_conversation_key() -> None:
    published, groq, store = await _run()
    [out] = _outcome_records(published)
    assert isinstance(out.event, ResponseGenerated)
    assert out.key == "whatsapp:pn1:+33600000001"
    assert out.event.response == "reply to bonjour"
    assert out.event.config_source == ConfigSource.USER
    assert (out.event.model, out.event.prompt_tokens, out.event.completion_tokens) == (
        "tenant-model",
        12,
        7,
    )
    assert [call["api_key"] for call in groq.calls] == ["gsk_tenant"]
    assert [reply.content for _, reply in store.saved] == ["reply to bonjour"]


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (401, None, FailureReason.PROVIDER_AUTH),
        (403, None, FailureReason.PROVIDER_AUTH),
        (404, "model_not_found", FailureReason.PROVIDER_REJECTED),
        (400, "model_decommissioned", FailureReason.PROVIDER_REJECTED),
        (422, None, FailureReason.PROVIDER_REJECTED),
    ],
)
async def test_refusals_are_final_and_not_retryable(
    status: int, code: str | None, reason: FailureReason
) -> None:
    published, groq, store = await _run(GroqFailure(status, code=code))
    failure = _only_failure(published)
    assert (failure.reason, failure.retryable) == (reason, False)
    assert not store.saved
    if code == "model_decommissioned":
        # the system default model is tried once before the refusal is final (issue 16)
        assert "decommissioned" in failure.detail
        assert [call["model"] for call in groq.calls] == ["tenant-model", DEFAULT_CHAT_MODEL]
    else:
        assert len(groq.calls) == 1


async def test_429_defers_a_whatsapp_message_by_its_retry_after_and_publishes_nothing() -> None:
    with pytest.raises(RetryLater) as later:
        await _run(GroqFailure(429, retry_after_s=7))
    assert later.value.after_s is not None and 7 <= later.value.after_s <= 7 * 1.2


@pytest.mark.parametrize(
    "failure",
    [GroqFailure(500), GroqFailure(503), GroqFailure(None, timed_out=True), GroqFailure(None)],
)
async def test_outages_and_timeouts_back_off_exponentially(failure: GroqFailure) -> None:
    waits = []
    for delivery in (1, 2, 3):
        with pytest.raises(RetryLater) as later:
            await _run(failure, channel=Channel.TWILIO, delivery=delivery)
        assert later.value.after_s is not None
        waits.append(later.value.after_s)
    assert 0.5 <= waits[0] <= 0.6 and 1.0 <= waits[1] <= 1.2 and 2.0 <= waits[2] <= 2.4


async def test_a_whatsapp_message_gives_up_retryably_when_the_budget_is_spent() -> None:
    published, _, _ = await _run(GroqFailure(429, retry_after_s=5), elapsed_s=3598)
    failure = _only_failure(published)
    assert (failure.reason, failure.retryable) == (FailureReason.PROVIDER_UNAVAILABLE, True)


async def test_an_api_message_retries_briefly_then_fails_fast_and_retryably() -> None:
    with pytest.raises(RetryLater):
        await _run(GroqFailure(500), channel=Channel.API, delivery=1)
    published, _, _ = await _run(GroqFailure(500), channel=Channel.API, delivery=3)
    assert _only_failure(published).retryable is True
    # a retry-after the caller cannot wait for: at once
    published, _, _ = await _run(GroqFailure(429, retry_after_s=30), channel=Channel.API)
    failure = _only_failure(published)
    assert (failure.reason, failure.retryable) == (FailureReason.PROVIDER_UNAVAILABLE, True)


async def test_no_config_and_no_fallback_fails_without_calling_groq() -> None:
    published, groq, _ = await _run(view=_view(tenant_key=None))
    failure = _only_failure(published)
    assert (failure.reason, failure.retryable) == (FailureReason.CONFIG_REQUIRED, False)
    assert not groq.calls


async def test_the_fallback_answers_an_unconfigured_tenant_and_an_unknown_customer() -> None:
    for user in (TENANT, None):
        published, groq, _ = await _run(
            view=_view(tenant_key=None, fallback_key="gsk_system"), user=user
        )
        [event] = published.of_type(ResponseGenerated)
        assert (event.config_source, event.model) == (ConfigSource.FALLBACK, "fb")
        assert [call["api_key"] for call in groq.calls] == ["gsk_system"]


async def test_a_disabled_fallback_is_never_used() -> None:
    view = _view(tenant_key=None, fallback_key="gsk_system")
    view.fallback_enabled = False
    published, groq, _ = await _run(view=view)
    assert _only_failure(published).reason == FailureReason.CONFIG_REQUIRED
    assert not groq.calls


async def test_a_key_that_secrets_key_cannot_open_is_a_config_problem() -> None:
    published, groq, _ = await _run(view=_view(tenant_key="!not-a-fernet-token"))
    failure = _only_failure(published)
    assert (failure.reason, failure.retryable) == (FailureReason.CONFIG_REQUIRED, False)
    assert "SECRETS_KEY" in failure.detail and "not-a-fernet" not in failure.detail
    assert not groq.calls


async def test_a_stored_reply_is_announced_again_without_a_second_groq_call() -> None:
    stored = BotReply("the first answer", "user", "tenant-model", 3, 4, datetime.now(UTC))
    store, groq, published = FakeStore(prior=stored), FakeGroq(), Published()
    await _handler(_view(), store, groq, published)(received(_message()))
    [event] = published.of_type(ResponseGenerated)
    assert (event.response, event.prompt_tokens) == ("the first answer", 3)
    assert not groq.calls and not store.saved


async def test_the_prompt_carries_the_system_prompt_and_the_recent_turns_in_order() -> None:
    history = [Turn("user", "my order is 42"), Turn("bot", "noted")]
    store, groq, published = FakeStore(history=history), FakeGroq(), Published()
    await _handler(_view(), store, groq, published)(received(_message()))
    assert groq.calls[0]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "my order is 42"},
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "bonjour"},
    ]


async def test_while_a_key_waits_out_its_retry_after_other_conversations_neither_store_nor_call() -> (
    None
):
    store, groq, published = FakeStore(), FakeGroq(GroqFailure(429, retry_after_s=30)), Published()
    handler = _handler(_view(), store, groq, published)
    with pytest.raises(RetryLater):
        await handler(received(_message()))
    with pytest.raises(RetryLater) as later:
        await handler(received(_message()))  # another conversation of the same key
    assert later.value.after_s is not None and 29 < later.value.after_s <= 30 * 1.2
    assert len(store.admitted) == 1 and len(groq.calls) == 1 and not _outcome_records(published)
    # an API caller cannot wait that long: its message makes its one try and fails fast
    published_api = Published()
    api_handler = _handler(_view(), store, groq, published_api)
    api_handler.gate = handler.gate
    await api_handler(received(_message(Channel.API)))
    assert _only_failure(published_api).retryable is True and len(groq.calls) == 2


async def test_an_answer_opens_the_key_for_everyone() -> None:
    store, groq, published = FakeStore(), FakeGroq(GroqFailure(429, retry_after_s=0)), Published()
    handler = _handler(_view(), store, groq, published)
    with pytest.raises(RetryLater):
        await handler(received(_message()))
    groq.failure = None
    await handler(received(_message()))  # the probe, answered
    await handler(received(_message()))
    assert len(published.of_type(ResponseGenerated)) == 2


async def test_a_voice_note_without_text_is_stored_not_answered() -> None:
    """The media service says what it holds (messages.media.v1); the model never gets ''."""
    voice = _message().model_copy(
        update={"text": "", "media": MediaRef(kind=MediaKind.AUDIO, media_id="m1", voice=True)}
    )
    store, groq, published = FakeStore(), FakeGroq(), Published()
    await _handler(_view(), store, groq, published)(received(voice))
    assert (store.admitted, groq.calls, published.events) == ([voice.message_id], [], [])


async def test_a_captionless_item_in_the_history_is_left_out_of_the_prompt() -> None:
    history = [Turn("user", ""), Turn("user", "and this one?")]
    store, groq, published = FakeStore(history=history), FakeGroq(), Published()
    await _handler(_view(), store, groq, published)(received(_message()))
    assert groq.calls[0]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "and this one?"},
        {"role": "user", "content": "bonjour"},
    ]


def _resolved(outcome: MediaOutcome, text: str | None, fallback: str | None) -> MediaResolved:
    voice = _message().model_copy(
        update={"text": "", "media": MediaRef(kind=MediaKind.AUDIO, media_id="m1", voice=True)}
    )
    return MediaResolved(
        message_id=voice.message_id,
        conversation_key=voice.conversation_key,
        user_id=TENANT,
        channel=voice.channel,
        kind=MediaKind.AUDIO,
        outcome=outcome,
        text=text,
        fallback_text=fallback,
        message=voice,
    )


async def test_a_transcript_is_answered_as_the_customers_text() -> None:
    store, groq, published = FakeStore(), FakeGroq(), Published()
    resolved = _resolved(MediaOutcome.TRANSCRIBED, "où est ma commande", None)
    await _handler(_view(), store, groq, published)(received(resolved))
    [out] = _outcome_records(published)
    assert isinstance(out.event, ResponseGenerated)
    assert out.event.message_id == resolved.message_id
    assert out.event.response == "reply to où est ma commande"


async def test_an_item_that_cannot_be_read_gets_the_polite_text_without_a_model_call() -> None:
    store, groq, published = FakeStore(), FakeGroq(), Published()
    resolved = _resolved(MediaOutcome.FAILED, None, "Je ne peux pas lire ce fichier.")
    await _handler(_view(), store, groq, published)(received(resolved))
    [out] = _outcome_records(published)
    assert isinstance(out.event, ResponseGenerated)
    assert (out.event.response, out.event.config_source, groq.calls) == (
        "Je ne peux pas lire ce fichier.",
        ConfigSource.NONE,
        [],
    )
