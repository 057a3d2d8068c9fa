"""Issue 16's limits: the rules (domain/limits.py), the batch arithmetic of the counters,
the guard and the handler over a limit (the per-message path counts through the
conversation store's statements, a turn through the LimitCounters seam; both in memory),
and the generic endpoint's 429."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.config.api.conversation_schemas import LimitsIn
from services.gateway.api.schemas import RETRY_AFTER, answer_for
from services.responder.adapters.counters import counts_after_each
from services.responder.domain.groq_settings import GroqSettingsView
from services.responder.domain.limits import (
    Counts,
    Increment,
    Limits,
    LimitsView,
    Step,
    decide,
    message_increments,
)
from services.responder.domain.retry import RetryPolicy
from services.responder.entrypoints.answer_common import AnswerSettings
from services.responder.entrypoints.consumers import AnswerMessages
from services.responder.entrypoints.limit_guard import LimitGuard
from services.responder.entrypoints.turns import AnswerTurns
from shared.consumer import Received
from shared.contracts.config_events import (
    DEFAULT_LIMIT_TEXT,
    GroqConfigChanged,
    GroqKeyPoolChanged,
    SystemSettingsChanged,
    TenantLimitsChanged,
)
from shared.contracts.conversations import ConversationOwnerChanged, OwnerChangedBy
from shared.contracts.media import MediaOutcome, MediaResolved
from shared.contracts.messages import (
    Channel,
    ConfigSource,
    FailureReason,
    MediaKind,
    MediaRef,
    ResponseFailed,
    ResponseGenerated,
    UserIdentified,
)
from shared.views.conversation_owners import ConversationOwners
from tests.support.seams import Published, received
from tests.unit.test_responder_handler import BOX, TENANT, FakeGroq, FakeStore, _message
from tests.unit.test_responder_turns import KEY as TURN_KEY
from tests.unit.test_responder_turns import TENANT as TURN_TENANT
from tests.unit.test_responder_turns import FakeGroq as TurnGroq
from tests.unit.test_responder_turns import FakeTurnStore, _turn
from tests.unit.test_responder_turns import _answer as turns_answer

NOW = datetime(2026, 12, 3, 22, 0, 15, tzinfo=UTC)


def _limits(**overrides: object) -> Limits:
    values: dict[str, object] = {
        "messages_per_minute": 60,
        "tokens_per_day": None,
        "flood_per_minute": None,
        "use_cheaper_model": True,
        "use_system_fallback": False,
        "polite_text": DEFAULT_LIMIT_TEXT,
    }
    values.update(overrides)
    return Limits(**values)  # type: ignore[arg-type]


def _decide(limits: Limits, counts: Counts, *, cheaper: bool = False, fallback: bool = False):  # type: ignore[no-untyped-def]
    return decide(limits, counts, NOW, cheaper_model=cheaper, system_fallback=fallback)


# The rules -----------------------------------------------------------------------------------
def test_the_sixtieth_message_is_answered_and_the_sixty_first_degrades_in_order() -> None:
    limits = _limits()
    assert _decide(limits, Counts(60, 1, 0)).step is Step.ANSWER
    over = Counts(61, 1, 0)
    assert _decide(limits, over, cheaper=True, fallback=True).step is Step.CHEAPER_MODEL
    no_fallback = _decide(limits, over, cheaper=False, fallback=True)
    assert no_fallback.step is Step.POLITE_TEXT  # the tenant does not allow the fallback
    allowed = _limits(use_system_fallback=True)
    assert _decide(allowed, over, fallback=True).step is Step.SYSTEM_FALLBACK
    polite = _decide(allowed, over, fallback=False)
    assert polite.step is Step.POLITE_TEXT
    assert polite.retry_after_s == 45  # the minute's end
    assert _decide(_limits(use_cheaper_model=False), over, cheaper=True).step is Step.POLITE_TEXT


def test_tokens_per_day_count_what_earlier_calls_spent() -> None:
    limits = _limits(messages_per_minute=None, tokens_per_day=1000)
    assert _decide(limits, Counts(1, 1, 999)).step is Step.ANSWER
    spent = _decide(limits, Counts(1, 1, 1000))
    assert spent.step is Step.POLITE_TEXT
    assert spent.retry_after_s == 86_400 - (22 * 3600 + 15)  # until the UTC day ends


def test_the_flood_guard_stops_the_customer_before_any_degradation() -> None:
    limits = _limits(flood_per_minute=5)
    assert _decide(limits, Counts(6, 5, 0), cheaper=True).step is Step.ANSWER
    flood = _decide(limits, Counts(6, 6, 0), cheaper=True)
    assert flood.step is Step.FLOOD
    assert flood.retry_after_s == 45


def test_the_view_uses_the_tenants_own_limits_else_the_system_default() -> None:
    view, other = LimitsView(), uuid.uuid4()
    assert view.of(TENANT) is None
    view.apply(TenantLimitsChanged(user_id=None, messages_per_minute=100))
    view.apply(TenantLimitsChanged(user_id=TENANT, flood_per_minute=3))
    own, default = view.of(TENANT), view.of(other)
    assert own is not None and own.flood_per_minute == 3 and own.messages_per_minute is None
    assert default is not None and default.messages_per_minute == 100
    assert view.of(None) is None  # a message without a tenant is not counted
    view.apply(TenantLimitsChanged(user_id=TENANT))  # every limit off: nothing to count
    assert view.of(TENANT) is None
    view.apply(TenantLimitsChanged(user_id=TENANT, inherits=True))  # its own removed
    inherited = view.of(TENANT)
    assert inherited is not None and inherited.messages_per_minute == 100


def test_out_of_range_limits_are_refused_by_the_api_schema_and_the_contract() -> None:
    for bad in (
        {"messages_per_minute": 0},
        {"messages_per_minute": 100_001},
        {"tokens_per_day": 10},
        {"flood_per_minute": 1001},
        {"polite_text": "   "},
        {"polite_text": "x" * 1001},
    ):
        with pytest.raises(ValidationError):
            LimitsIn.model_validate(bad)
        if bad.get("polite_text") != "   ":  # the API also strips; the contract counts
            with pytest.raises(ValidationError):
                TenantLimitsChanged.model_validate({"user_id": None, **bad})
    assert LimitsIn().polite_text == DEFAULT_LIMIT_TEXT


# The counters' batch arithmetic ------------------------------------------------------------
def test_each_request_of_a_batch_sees_the_count_just_after_its_own_increment() -> None:
    first = message_increments(TENANT, "+331", NOW, first_try=True)
    second = message_increments(TENANT, "+332", NOW, first_try=True)
    retry = message_increments(TENANT, "+331", NOW, first_try=False)
    tenant, c1, c2, day = first[0], first[1], second[1], first[2]
    # The statement returned the totals after the whole batch.
    totals = {
        (tenant.scope, tenant.bucket): 61,
        (c1.scope, c1.bucket): 4,
        (c2.scope, c2.bucket): 1,
        (day.scope, day.bucket): 500,
    }
    counts = counts_after_each([first, second, retry], totals)
    assert counts == [[60, 4, 500], [61, 1, 500], [61, 4, 500]]


# The guard and the handler ---------------------------------------------------------------
class MemoryCounters:
    """LimitCounters in memory: the same sums the table keeps."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], int] = {}
        self.marks: set[str] = set()
        self.statements = 0

    async def add(self, increments: Sequence[Increment]) -> list[int]:
        self.statements += 1
        fresh = {i.once for i in increments if i.once is not None} - self.marks
        self.marks |= fresh
        for increment in increments:
            if increment.once is None or increment.once in fresh:
                key = (increment.scope, increment.bucket)
                self.rows[key] = self.rows.get(key, 0) + increment.add
        return [self.rows.get((i.scope, i.bucket), 0) for i in increments]


def _view(*, cheaper: str | None = None, fallback: bool = False) -> GroqSettingsView:
    view = GroqSettingsView()
    view.apply(
        GroqConfigChanged(
            user_id=TENANT, api_key_encrypted=BOX.encrypt("k"), model="big", temperature=0.3
        )
    )
    if cheaper:
        view.apply(GroqKeyPoolChanged(user_id=TENANT, cheaper_model=cheaper))
    view.apply(
        GroqConfigChanged(
            user_id=None, api_key_encrypted=BOX.encrypt("s"), model="sys", temperature=0.3
        )
    )
    view.apply(SystemSettingsChanged(fallback_enabled=fallback))
    return view


class NoCounters:
    """The per-message path never counts with a statement of its own."""

    async def add(self, increments: Sequence[Increment]) -> list[int]:
        raise AssertionError("counted outside the conversation store's statements")


def _handler(
    view: GroqSettingsView, limits: TenantLimitsChanged, published: Published
) -> tuple[AnswerMessages, FakeStore, FakeGroq]:
    store, groq = FakeStore(), FakeGroq()
    limit_view = LimitsView()
    limit_view.apply(limits)
    guard = LimitGuard(limit_view, view, NoCounters(), clock=lambda: NOW)
    settings = AnswerSettings("be brief", "http://groq.test", RetryPolicy(api_retries=2))
    handler = AnswerMessages(view, store, groq, BOX, published, settings, limits=guard)
    return handler, store, groq


def _from(customer: str, channel: Channel = Channel.WHATSAPP) -> Received[UserIdentified]:
    message = _message(channel)
    message = message.model_copy(
        update={"customer_phone": customer, "conversation_key": f"{channel.value}:pn1:{customer}"}
    )
    return received(message)


async def test_over_the_minute_the_cheaper_model_answers() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, messages_per_minute=2)
    handler, store, groq = _handler(_view(cheaper="small"), limits, published)
    for _ in range(3):
        await handler(_from("+33611"))
    assert [call["model"] for call in groq.calls] == ["big", "big", "small"]
    # counted by the statement storing each message, no statement of their own
    assert store.counted == ["admit"] * 3


async def test_then_the_system_fallback_when_the_tenant_allows_it() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, messages_per_minute=1, use_system_fallback=True)
    handler, _, groq = _handler(_view(fallback=True), limits, published)
    await handler(_from("+33611"))
    await handler(_from("+33612"))
    assert [call["model"] for call in groq.calls] == ["big", "sys"]
    replies = published.of_type(ResponseGenerated)
    assert [r.config_source for r in replies] == [ConfigSource.USER, ConfigSource.FALLBACK]


async def test_then_the_polite_text_and_the_conversation_goes_to_a_person() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, messages_per_minute=1, polite_text="Patience")
    handler, store, groq = _handler(_view(fallback=True), limits, published)
    await handler(_from("+33611"))
    await handler(_from("+33612"))
    assert len(groq.calls) == 1
    assert published.of_type(ResponseGenerated)[-1].response == "Patience"
    assert store.saved[-1][1].content == "Patience"
    (owner,) = published.of_type(ConversationOwnerChanged)
    assert owner.changed_by is OwnerChangedBy.LIMIT_REACHED
    assert owner.conversation_key == "whatsapp:pn1:+33612"


async def test_the_generic_endpoint_gets_a_retryable_rate_limited_failure() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, messages_per_minute=1)
    handler, _, _ = _handler(_view(), limits, published)
    await handler(_from("+33611", Channel.API))
    await handler(_from("+33611", Channel.API))
    (failure,) = published.of_type(ResponseFailed)
    assert failure.reason is FailureReason.RATE_LIMITED and failure.retryable
    assert failure.retry_after_s == 45 and failure.customer_text == DEFAULT_LIMIT_TEXT
    status, body = answer_for(failure, None)
    assert status == 429
    assert body["error"] == DEFAULT_LIMIT_TEXT and body["retryable"] is True
    assert body[RETRY_AFTER] == 45
    assert not published.of_type(ConversationOwnerChanged)
    # Retry-After takes whole seconds: a fraction is rounded up, never down to 0.
    partial = failure.model_copy(update={"retry_after_s": 0.4})
    assert answer_for(partial, None)[1][RETRY_AFTER] == 1
    assert (
        answer_for(failure.model_copy(update={"retry_after_s": 12.2}), None)[1][RETRY_AFTER] == 13
    )


async def test_a_flooding_customer_is_stopped_and_the_others_answered() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, flood_per_minute=2)
    handler, _, groq = _handler(_view(cheaper="small"), limits, published)
    for _ in range(4):
        await handler(_from("+33611"))
    await handler(_from("+33699"))
    assert len(groq.calls) == 3  # two of the flooder's, then the other customer's
    failures = published.of_type(ResponseFailed)
    assert len(failures) == 2 and all(f.reason is FailureReason.RATE_LIMITED for f in failures)
    assert published.of_type(ResponseGenerated)[-1].customer_phone == "+33699"
    assert not published.of_type(ConversationOwnerChanged)


def _minute_count(store: FakeStore) -> int:
    return sum(v for (scope, _), v in store.counters.items() if scope.startswith("t:"))


async def test_a_retry_of_the_same_message_is_not_counted_twice() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, messages_per_minute=1)
    handler, store, groq = _handler(_view(), limits, published)
    item = _from("+33611")
    await handler(item)
    await handler(dataclasses.replace(item, delivery=2))
    assert len(groq.calls) == 2 and _minute_count(store) == 1


async def test_a_redelivered_first_try_is_not_counted_twice() -> None:
    """A crash after the message was stored: the record comes again as a first try (the
    offset was not committed); its row is found and nothing is added."""
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, messages_per_minute=1)
    handler, store, groq = _handler(_view(), limits, published)
    item = _from("+33611")
    await handler(item)
    await handler(item)
    assert _minute_count(store) == 1
    assert [call["model"] for call in groq.calls] == ["big", "big"]  # never over the limit


async def test_a_voice_note_is_counted_once_though_its_row_is_stored_with_the_transcript() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, messages_per_minute=5)
    handler, store, groq = _handler(_view(), limits, published)
    voice = _from("+33611").event.model_copy(
        update={"text": "", "media": MediaRef(kind=MediaKind.AUDIO, media_id="m1", voice=True)}
    )
    await handler(received(voice))  # not answered yet, not counted
    resolved = MediaResolved(
        message_id=voice.message_id,
        conversation_key=voice.conversation_key,
        user_id=TENANT,
        channel=Channel.WHATSAPP,
        kind=MediaKind.AUDIO,
        outcome=MediaOutcome.TRANSCRIBED,
        text="where is my order",
        message=voice,
    )
    await handler(received(resolved))
    assert len(groq.calls) == 1 and _minute_count(store) == 1
    await handler(dataclasses.replace(received(resolved), delivery=2))  # a retry
    assert _minute_count(store) == 1


async def test_tokens_spent_are_counted_with_the_reply() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=TENANT, tokens_per_day=1000)
    handler, store, _ = _handler(_view(), limits, published)
    await handler(_from("+33611"))
    assert sum(v for (scope, _), v in store.counters.items() if scope.startswith("d:")) == 19
    assert store.counted == ["admit", "save_reply"]


async def test_a_tenant_without_limits_costs_no_statement() -> None:
    published = Published()
    limits = TenantLimitsChanged(user_id=uuid.uuid4(), messages_per_minute=1)
    handler, store, groq = _handler(_view(), limits, published)
    await handler(_from("+33611"))
    await handler(_from("+33611"))
    assert store.counted == [] and len(groq.calls) == 2


# The turn path -----------------------------------------------------------------------------
def _turn_answerer(
    limits: TenantLimitsChanged, counters: MemoryCounters
) -> tuple[AnswerTurns, FakeTurnStore, TurnGroq, Published, ConversationOwners]:
    store, groq, published, owners = FakeTurnStore(), TurnGroq(), Published(), ConversationOwners()
    answer = turns_answer(store, groq, published, owners)
    limit_view = LimitsView()
    limit_view.apply(limits)
    answer.limits = LimitGuard(limit_view, answer.view, counters, clock=lambda: NOW)
    return answer, store, groq, published, owners


async def test_a_turn_counts_each_of_its_messages_and_over_the_limit_gets_the_polite_text() -> None:
    counters = MemoryCounters()
    limits = TenantLimitsChanged(
        user_id=TURN_TENANT,
        messages_per_minute=3,
        tokens_per_day=1_000_000,
        polite_text="Un instant",
    )
    answer, store, groq, published, owners = _turn_answerer(limits, counters)
    await answer(_turn("bonjour", "ma commande"))
    await answer(_turn("encore", "et encore"))
    assert len(groq.calls) == 1  # 2 messages, then 4 > 3
    assert store.replies[-1][1].content == "Un instant"
    (change,) = published.of_type(ConversationOwnerChanged)
    assert change.changed_by is OwnerChangedBy.LIMIT_REACHED
    assert not owners.current(TURN_TENANT, TURN_KEY, NOW).bot_answers
    # the first turn's tokens (10 + 5) were counted with its reply's row
    assert [(i.scope[:2], i.add) for i in store.spent] == [("d:", 15)]
    assert counters.statements == 2  # the turns' message counts, before each model call


async def test_a_turn_claimed_again_counts_only_its_new_messages() -> None:
    """Superseded (a message joined during the generation), then claimed again: the two
    first messages were counted already, only the third adds."""
    counters = MemoryCounters()
    limits = TenantLimitsChanged(user_id=TURN_TENANT, messages_per_minute=3)
    answer, store, groq, _, _ = _turn_answerer(limits, counters)
    first = _turn("bonjour", "ma commande")
    store.version = 3  # a third message joined while the model ran
    await answer(first)
    assert store.replies == []
    store.version = None
    again = dataclasses.replace(first, messages=[*first.messages, _turn("4411").messages[0]])
    await answer(again)
    assert len(groq.calls) == 2 and store.replies[-1][1].content != DEFAULT_LIMIT_TEXT
    assert sum(v for (scope, _), v in counters.rows.items() if scope.startswith("t:")) == 3


async def test_a_flooding_customers_turn_fails_without_a_model_call() -> None:
    limits = TenantLimitsChanged(user_id=TURN_TENANT, flood_per_minute=1)
    answer, store, groq, published, _ = _turn_answerer(limits, MemoryCounters())
    await answer(_turn("un", "deux"))
    assert groq.calls == [] and store.replies == []
    (failure,) = published.of_type(ResponseFailed)
    assert failure.reason is FailureReason.RATE_LIMITED
    assert store.finished == ["failed"]
