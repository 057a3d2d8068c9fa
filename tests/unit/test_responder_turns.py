"""Turn assembly: the pure rules (due time, adaptation, supersede, handoff phrases) and the
turn's answer through the seams, with an in-memory turn store, Groq and publish."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from services.responder.adapters.groq_client import Completion
from services.responder.adapters.turns import ClaimedTurn, TurnMessage
from services.responder.domain.conversation import Admission, BotReply, Turn, build_turn_prompt
from services.responder.domain.failures import GroqFailure
from services.responder.domain.groq_settings import GroqSettingsView
from services.responder.domain.limits import Increment
from services.responder.domain.retry import RetryPolicy
from services.responder.domain.turns import (
    HANDOFF_MARKER,
    ModelAnswer,
    TurnSettings,
    TurnSettingsView,
    asks_for_human,
    assembles,
    due_at,
    failures_in_a_row,
    handoff_acknowledgement,
    read_model_answer,
    superseded,
)
from services.responder.entrypoints.answer_common import AnswerSettings
from services.responder.entrypoints.consumers import AnswerMessages
from services.responder.entrypoints.turns import AnswerTurns, TurnPolicy
from shared.contracts.config_events import ConversationSettingsChanged, GroqConfigChanged
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    TurnStarted,
)
from shared.contracts.media import MediaOutcome, MediaResolved
from shared.contracts.messages import (
    Channel,
    IdentifiedBy,
    MediaKind,
    MediaRef,
    ResponseFailed,
    ResponseGenerated,
    UserIdentified,
)
from shared.crypto import SecretBox
from shared.views.conversation_owners import ConversationOwners
from tests.support.groq import GroqCall, InMemoryGroq
from tests.support.seams import Published, received

BOX = SecretBox(Fernet.generate_key().decode())
TENANT = uuid.uuid4()
KEY = "whatsapp:pn1:+33600000001"
T0 = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
S = TurnSettings(quiet_ms=2000, max_ms=8000)


def ms(n: int) -> timedelta:
    return timedelta(milliseconds=n)


# -- pure rules -----------------------------------------------------------------------------


def test_a_turn_is_due_after_the_quiet_time_from_its_last_message() -> None:
    assert due_at(T0, T0 + ms(500), "hello", False, S) == T0 + ms(2500)


def test_the_quiet_time_adapts_to_what_was_just_sent() -> None:
    assert due_at(T0, T0, "I ordered yesterday.", False, S) == T0 + ms(1000)
    assert due_at(T0, T0, "and then…", False, S) == T0 + ms(4000)
    assert due_at(T0, T0, "wait...", False, S) == T0 + ms(4000)
    assert due_at(T0, T0, "", True, S) == T0 + ms(4000)  # a voice note: more may follow


def test_the_turn_never_waits_more_than_max_from_its_first_message() -> None:
    assert due_at(T0, T0 + ms(7000), "still typing", False, S) == T0 + ms(8000)
    # A message arriving after the cap is answered at once, not in the past.
    assert due_at(T0, T0 + ms(9000), "late", False, S) == T0 + ms(9000)


def test_a_generation_stands_only_at_the_version_it_started_from() -> None:
    assert not superseded(3, 3)
    assert superseded(3, 4)


def test_window_zero_and_the_api_channel_keep_a_reply_per_message() -> None:
    assert assembles(_message("hi"), S)
    assert not assembles(_message("hi"), TurnSettings(quiet_ms=0))
    assert not assembles(_message("hi", channel=Channel.API), S)


def test_handoff_phrases_in_french_and_english_and_the_tenants_own() -> None:
    defaults = TurnSettings().handoff_phrases
    assert asks_for_human(["Je voudrais parler à un humain svp"], defaults)
    assert asks_for_human(["Can I  TALK to a human?"], defaults)
    assert not asks_for_human(["order 4411"], defaults)
    assert asks_for_human(["je veux mon gérant"], ["mon gérant"])
    assert handoff_acknowledgement(["can I talk to a human please"]).startswith("Of course")
    assert handoff_acknowledgement(["je veux parler à un humain"]).startswith("Bien sûr")


def test_the_model_hands_off_by_structured_answer_or_by_marker() -> None:
    assert read_model_answer('{"reply": "Je transmets.", "action": "handoff"}') == ModelAnswer(
        "Je transmets.", True
    )
    assert read_model_answer('{"reply": "Voici.", "action": "none"}') == ModelAnswer(
        "Voici.", False
    )
    assert read_model_answer("[HANDOFF] Someone will answer here.") == ModelAnswer(
        "Someone will answer here.", True
    )
    assert read_model_answer("Your order ships today.") == ModelAnswer(
        "Your order ships today.", False
    )
    assert read_model_answer("{not json") == ModelAnswer("{not json", False)


def test_failures_in_a_row_count_from_the_newest() -> None:
    assert failures_in_a_row(["failed", "failed", "done", "failed"]) == 2
    assert failures_in_a_row(["done", "failed"]) == 0


def test_the_settings_view_follows_the_config_feed_with_defaults() -> None:
    view = TurnSettingsView()
    assert view.of(TENANT).quiet_ms == 2000
    view.apply(ConversationSettingsChanged(user_id=TENANT, turn_quiet_ms=0, handoff_phrases=[]))
    assert view.of(TENANT).quiet_ms == 0
    assert view.of(TENANT).handoff_phrases == TurnSettings().handoff_phrases
    assert view.of(uuid.uuid4()).quiet_ms == 2000


def test_the_prompt_holds_every_message_of_the_turn_in_order() -> None:
    prompt = build_turn_prompt("sys", [Turn("bot", "earlier")], ["hi", "", "order 4411"])
    assert [(p["role"], p["content"]) for p in prompt] == [
        ("system", "sys"),
        ("assistant", "earlier"),
        ("user", "hi"),
        ("user", "order 4411"),
    ]


# -- the turn's answer through the seams ----------------------------------------------------


def _message(text: str, channel: Channel = Channel.WHATSAPP) -> UserIdentified:
    return UserIdentified(
        message_id=f"wamid.{uuid.uuid4().hex}",
        conversation_key=KEY,
        channel=channel,
        source="whatsapp",
        customer_phone="+33600000001",
        phone_number_id="pn1",
        text=text,
        received_at=T0.isoformat(),
        user_id=TENANT,
        identified_by=IdentifiedBy.WHATSAPP_CONFIG,
    )


def _turn(*texts: str, version: int | None = None) -> ClaimedTurn:
    messages = [TurnMessage(_message(t), False, None) for t in texts]
    return ClaimedTurn(
        turn_id=uuid.uuid4(),
        state="open",
        version=version or len(texts),
        conversation_key=KEY,
        user_id=TENANT,
        first_at=T0,
        failures=0,
        failing_since=None,
        reply_message_id=None,
        messages=messages,
    )


@dataclass
class FakeTurnStore:
    """The store's contract in memory: a reply is stored only at the claimed version."""

    version: int | None = None  # the turn's current version; None = the claimed one
    replies: list[tuple[str, BotReply]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    deferred: list[datetime] = field(default_factory=list)
    states: list[str] = field(default_factory=list)  # earlier finished turns, newest first
    spent: list[Increment] = field(default_factory=list)  # tokens counted with a reply
    claimable: list[ClaimedTurn] = field(default_factory=list)  # what the poller claims
    renewed: list[list[uuid.UUID]] = field(default_factory=list)  # each renewal's turns

    async def join(self, message: UserIdentified, settings: TurnSettings, now: datetime) -> bool:
        return True

    async def resolve_media(
        self,
        message_id: str,
        text: str | None,
        fallback: str | None,
        settings: TurnSettings,
        now: datetime,
    ) -> bool:
        return False

    async def claim(self, now: datetime, limit: int) -> list[ClaimedTurn]:
        claimed, self.claimable = self.claimable[:limit], self.claimable[limit:]
        return claimed

    async def renew(self, turn_ids: Sequence[uuid.UUID], now: datetime) -> None:
        self.renewed.append(list(turn_ids))

    async def history(self, turn: ClaimedTurn, since: datetime, limit: int) -> list[Turn]:
        return [Turn("bot", "earlier reply")]

    async def store_reply(
        self, turn: ClaimedTurn, reply: BotReply, now: datetime, spent: Increment | None = None
    ) -> BotReply | None:
        if superseded(turn.version, self.version or turn.version):
            return None
        self.replies.append((turn.last.message_id, reply))
        if spent is not None:
            self.spent.append(spent)
        return reply

    async def stored_reply(self, turn: ClaimedTurn) -> BotReply | None:
        return self.replies[-1][1] if self.replies else None

    async def finish(self, turn_id: uuid.UUID, state: str) -> None:
        self.finished.append(state)

    async def defer(self, turn: ClaimedTurn, until: datetime, failing_since: datetime) -> None:
        self.deferred.append(until)

    async def release(self, turn_id: uuid.UUID) -> None:
        return None

    async def latest_states(self, conversation_key: str, limit: int) -> list[str]:
        return [s for s in reversed(self.finished) if s in ("done", "failed")] + self.states


class FakeGroq(InMemoryGroq):
    def __init__(self, failure: GroqFailure | None = None, answer: str = "one answer") -> None:
        super().__init__()
        self.failure = failure
        self.text = answer

    @property
    def calls(self) -> list[list[Mapping[str, str]]]:
        return [call.messages for call in self.received]

    def answer(self, call: GroqCall) -> Completion:
        if self.failure is not None:
            raise self.failure
        return Completion(self.text, 10, 5)


def _answer(
    store: FakeTurnStore, groq: FakeGroq, published: Published, owners: ConversationOwners
) -> AnswerTurns:
    view = GroqSettingsView()
    view.apply(
        GroqConfigChanged(
            user_id=TENANT, api_key_encrypted=BOX.encrypt("gsk_t"), model="m", temperature=0.2
        )
    )
    policy = TurnPolicy("be brief", "http://groq.test", RetryPolicy(budget_s=3600))
    return AnswerTurns(
        store, view, TurnSettingsView(), owners, groq, BOX, published, policy, lambda: T0
    )


async def _run(
    turn: ClaimedTurn,
    *,
    store: FakeTurnStore | None = None,
    groq: FakeGroq | None = None,
    owners: ConversationOwners | None = None,
) -> tuple[Published, FakeGroq, FakeTurnStore, ConversationOwners]:
    store, groq, published = store or FakeTurnStore(), groq or FakeGroq(), Published()
    owners = owners or ConversationOwners()
    await _answer(store, groq, published, owners)(turn)
    return published, groq, store, owners


async def test_one_model_call_for_the_whole_turn_and_one_reply_listing_its_messages() -> None:
    turn = _turn("hi", "I ordered yesterday", "order 4411")
    published, groq, store, _ = await _run(turn)

    [call] = groq.calls
    assert [m["content"] for m in call if m["role"] == "user"] == [
        "hi",
        "I ordered yesterday",
        "order 4411",
    ]
    [started] = published.of_type(TurnStarted)
    [reply] = published.of_type(ResponseGenerated)
    assert started.turn_message_ids == reply.turn_message_ids == turn.message_ids
    assert reply.message_id == turn.last.message_id
    assert reply.customer_last_seen_at == turn.last.received_at
    assert [out.key for out in published.events] == [KEY, KEY]
    assert store.finished == ["done"]


async def test_a_message_joined_during_generation_supersedes_it() -> None:
    turn = _turn("hi", "order 4411")
    published, groq, store, _ = await _run(turn, store=FakeTurnStore(version=3))

    assert len(groq.calls) == 1
    assert published.of_type(ResponseGenerated) == []
    assert store.finished == []  # the turn stays open and is generated again when due


async def test_a_stored_but_unpublished_reply_is_announced_again_without_a_call() -> None:
    reply = BotReply("stored", "user", "m", 1, 1, T0)
    store = FakeTurnStore(replies=[("x", reply)])
    turn = replace(_turn("hi"), state="replied", reply_message_id="x")
    published, groq, store, _ = await _run(turn, store=store)

    assert groq.calls == []
    [event] = published.of_type(ResponseGenerated)
    assert event.response == "stored"
    assert store.finished == ["done"]


async def test_a_conversation_a_human_owns_is_stored_not_answered() -> None:
    owners = ConversationOwners()
    owners.apply(
        ConversationOwnerChanged(
            user_id=TENANT,
            conversation_key=KEY,
            owner=ConversationOwner.PAUSED,
            changed_by=OwnerChangedBy.TENANT_API,
            occurred_at=T0 - ms(1000),
        )
    )
    published, groq, store, _ = await _run(_turn("hello?"), owners=owners)
    assert (groq.calls, published.events, store.finished) == ([], [], ["skipped"])


async def test_an_expired_pause_gives_the_conversation_back_to_the_bot() -> None:
    owners = ConversationOwners()
    owners.apply(
        ConversationOwnerChanged(
            user_id=TENANT,
            conversation_key=KEY,
            owner=ConversationOwner.HUMAN,
            until=T0 - ms(1),
            changed_by=OwnerChangedBy.BUSINESS_ECHO,
            occurred_at=T0 - ms(60000),
        )
    )
    published, groq, _, _ = await _run(_turn("hello?"), owners=owners)
    assert len(groq.calls) == 1
    assert len(published.of_type(ResponseGenerated)) == 1


async def test_asking_for_a_human_hands_off_without_a_model_call() -> None:
    published, groq, _, owners = await _run(_turn("hello", "I want to talk to a human"))

    assert groq.calls == []
    [change] = published.of_type(ConversationOwnerChanged)
    assert change.owner is ConversationOwner.HUMAN
    assert change.changed_by is OwnerChangedBy.CUSTOMER_REQUEST
    assert change.until == T0 + timedelta(hours=12)
    [ack] = published.of_type(ResponseGenerated)
    assert ack.response.startswith("Of course")
    assert not owners.current(TENANT, KEY, T0).bot_answers


async def test_a_retryable_failure_defers_the_turn_and_a_final_one_fails_its_last_message() -> None:
    published, _, store, _ = await _run(_turn("hi"), groq=FakeGroq(GroqFailure(503)))
    assert published.of_type(ResponseFailed) == []
    [until] = store.deferred
    assert until > T0

    turn = _turn("hi", "again")
    published, _, store, _ = await _run(turn, groq=FakeGroq(GroqFailure(401)))
    [failure] = published.of_type(ResponseFailed)
    assert failure.message_id == turn.last.message_id
    assert store.finished == ["failed"]


async def test_the_model_handing_off_sends_its_reply_then_gives_the_conversation_away() -> None:
    groq = FakeGroq(answer=f"{HANDOFF_MARKER} A colleague will answer you here.")
    published, groq, _, owners = await _run(_turn("my parcel is broken"), groq=groq)

    assert HANDOFF_MARKER in groq.calls[0][0]["content"]  # the system prompt asks for it
    [reply] = published.of_type(ResponseGenerated)
    assert reply.response == "A colleague will answer you here."
    [change] = published.of_type(ConversationOwnerChanged)
    assert change.changed_by is OwnerChangedBy.MODEL_HANDOFF
    assert not owners.current(TENANT, KEY, T0).bot_answers


async def test_failed_turns_in_a_row_hand_the_conversation_to_a_person() -> None:
    store = FakeTurnStore(states=["failed", "failed"])
    published, _, _, owners = await _run(_turn("hi"), store=store, groq=FakeGroq(GroqFailure(401)))
    [change] = published.of_type(ConversationOwnerChanged)
    assert change.changed_by is OwnerChangedBy.REPEATED_FAILURES
    assert not owners.current(TENANT, KEY, T0).bot_answers

    store = FakeTurnStore(states=["done", "failed"])
    published, _, _, _ = await _run(_turn("hi"), store=store, groq=FakeGroq(GroqFailure(401)))
    assert published.of_type(ConversationOwnerChanged) == []


async def test_an_unexpected_error_is_retried_within_the_budget_then_fails_the_turn() -> None:
    store, published = FakeTurnStore(), Published()
    answer = _answer(store, FakeGroq(), published, ConversationOwners())
    await answer.failed_unexpectedly(_turn("hi"), RuntimeError("bug"))
    assert len(store.deferred) == 1 and published.events == []

    spent = replace(_turn("hi"), failures=3, failing_since=T0 - timedelta(hours=2))
    await answer.failed_unexpectedly(spent, RuntimeError("bug"))
    [failure] = published.of_type(ResponseFailed)
    assert failure.reason.value == "internal" and store.finished == ["failed"]


async def test_a_voice_note_that_could_not_be_read_gets_its_polite_text() -> None:
    turn = _turn("")
    turn = replace(turn, messages=[TurnMessage(turn.last, False, "Merci, je ne peux pas lire")])
    published, groq, _, _ = await _run(turn)
    assert groq.calls == []
    [reply] = published.of_type(ResponseGenerated)
    assert reply.response == "Merci, je ne peux pas lire"


# -- the consumer's side: a message joins its turn, a transcript resolves its message -------


@dataclass
class JoiningTurns(FakeTurnStore):
    joined: list[str] = field(default_factory=list)
    resolved: list[tuple[str, str | None]] = field(default_factory=list)

    async def join(self, message: UserIdentified, settings: TurnSettings, now: datetime) -> bool:
        self.joined.append(message.message_id)
        return True

    async def resolve_media(
        self,
        message_id: str,
        text: str | None,
        fallback: str | None,
        settings: TurnSettings,
        now: datetime,
    ) -> bool:
        self.resolved.append((message_id, text))
        return True


class Conversations:
    def __init__(self) -> None:
        self.admitted: list[str] = []
        self.transcribed: list[tuple[str, str]] = []

    async def admit(self, message: UserIdentified, counting: Sequence[Increment] = ()) -> Admission:
        self.admitted.append(message.message_id)
        return Admission(None, ())

    async def save_reply(
        self, message: UserIdentified, reply: BotReply, counting: Sequence[Increment] = ()
    ) -> BotReply:
        raise AssertionError("a turn's message is never answered by the consumer")

    async def transcribe(self, message: UserIdentified) -> None:
        self.transcribed.append((message.message_id, message.text))


def _consumer_handler(
    turns: JoiningTurns, store: Conversations, groq: FakeGroq, published: Published
) -> AnswerMessages:
    view = _answer(FakeTurnStore(), groq, published, ConversationOwners()).view
    settings = AnswerSettings("be brief", "http://groq.test", RetryPolicy())
    return AnswerMessages(view, store, groq, BOX, published, settings, turns=turns)


async def test_a_whatsapp_message_is_stored_and_joins_its_turn_without_a_call() -> None:
    turns, store, groq, published = JoiningTurns(), Conversations(), FakeGroq(), Published()
    message = _message("hi")
    await _consumer_handler(turns, store, groq, published)(received(message, key=KEY))
    assert (store.admitted, turns.joined) == ([message.message_id], [message.message_id])
    assert (groq.calls, published.events) == ([], [])


async def test_the_api_channel_is_answered_at_once_as_before() -> None:
    turns, groq, published = JoiningTurns(), FakeGroq(), Published()
    store = FakeConversations()
    message = _message("hi", channel=Channel.API)
    await _consumer_handler(turns, store, groq, published)(received(message))
    assert turns.joined == []
    assert len(groq.calls) == 1 and len(published.of_type(ResponseGenerated)) == 1


async def test_a_transcript_is_stored_as_the_message_text_and_resolves_it_in_its_turn() -> None:
    turns, store, groq, published = JoiningTurns(), Conversations(), FakeGroq(), Published()
    voice = _message("").model_copy(
        update={"media": MediaRef(kind=MediaKind.AUDIO, media_id="m1", voice=True)}
    )
    resolved = MediaResolved(
        message_id=voice.message_id,
        conversation_key=KEY,
        user_id=TENANT,
        channel=Channel.WHATSAPP,
        kind=MediaKind.AUDIO,
        outcome=MediaOutcome.TRANSCRIBED,
        text="where is my order",
        message=voice,
    )
    await _consumer_handler(turns, store, groq, published)(received(resolved, key=KEY))
    assert store.transcribed == [(voice.message_id, "where is my order")]
    assert turns.resolved == [(voice.message_id, "where is my order")]
    assert (groq.calls, published.events) == ([], [])


class FakeConversations(Conversations):
    async def save_reply(
        self, message: UserIdentified, reply: BotReply, counting: Sequence[Increment] = ()
    ) -> BotReply:
        return reply
