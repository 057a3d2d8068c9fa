"""The limit counters against PostgreSQL (issue 16): two stores standing for two replicas,
many concurrent messages, and every count exact; one statement per batch, and each message
sees the count just after its own increment. A turn counts with its own statement
(`SqlLimitCounters`); a single message with the statements that store it and its reply
(`SqlConversationStore`), once however often it is delivered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.adapters.conversations import SqlConversationStore
from services.responder.adapters.counters import SqlLimitCounters
from services.responder.adapters.turns import ClaimedTurn, SqlTurnStore
from services.responder.domain.conversation import Admission, BotReply
from services.responder.domain.limits import (
    Increment,
    admission_increments,
    message_increments,
    token_increment,
    turn_increments,
)
from services.responder.domain.turns import TurnSettings
from shared.contracts.messages import Channel, UserIdentified
from shared.db import Statements, make_engine
from tests.support.seams import api_message

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(bootstrapped: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(bootstrapped["DATABASE_URL"], pool_size=4)
    yield engine
    await engine.dispose()


async def test_two_replicas_count_every_message_once_and_each_sees_its_own_rank(
    engine: AsyncEngine,
) -> None:
    tenant, now = uuid.uuid4(), datetime.now(UTC)
    replicas = [SqlLimitCounters(Statements(engine)), SqlLimitCounters(Statements(engine))]

    async def message(n: int) -> list[int]:
        increments = message_increments(tenant, f"+3360000{n % 3}", now, first_try=True)
        return await replicas[n % 2].add(increments)

    counts = await asyncio.gather(*(message(n) for n in range(90)))
    assert sorted(c[0] for c in counts) == list(range(1, 91))  # the tenant's minute
    for customer in range(3):  # each customer's minute: 30 messages, ranks 1..30
        ranks = sorted(c[1] for n, c in enumerate(counts) if n % 3 == customer)
        assert ranks == list(range(1, 31))
    # a retry adds nothing and reads the counts back; tokens are seen by the next message
    await replicas[0].add([token_increment(tenant, 1234, now)])
    again = await replicas[1].add(message_increments(tenant, "+33600000", now, first_try=False))
    assert again[0] == 90 and again[1] == 30 and again[2] == 1234


# The per-message path: counted by the statements that store the message and its reply ----
def _counting(message: UserIdentified, now: datetime, *, if_seen: bool = False) -> list[Increment]:
    assert message.user_id is not None
    return admission_increments(
        message.user_id, message.customer_phone, now, counts_if_seen=if_seen
    )


class Seen:
    """The statements the engine runs while it listens."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.statements = engine, list[str]()
        event.listen(engine.sync_engine, "before_cursor_execute", self._saw)

    def _saw(self, *args: Any) -> None:
        self.statements.append(args[2])

    def stop(self) -> list[str]:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._saw)
        return self.statements


async def test_admissions_count_each_new_message_once_in_their_own_statement(
    engine: AsyncEngine,
) -> None:
    tenant, now = uuid.uuid4(), datetime.now(UTC)
    replicas = [SqlConversationStore(Statements(engine), 3, timedelta(hours=1)) for _ in range(2)]
    messages = [api_message(f"+3360000{n % 3}", tenant) for n in range(60)]
    seen = Seen(engine)

    async def admit(n: int) -> Admission:
        return await replicas[n % 2].admit(messages[n], _counting(messages[n], now))

    admissions = await asyncio.gather(*(admit(n) for n in range(60)))
    statements = seen.stop()
    assert sorted(a.counts[0] for a in admissions) == list(range(1, 61))  # the tenant's minute
    for customer in range(3):
        ranks = sorted(a.counts[1] for n, a in enumerate(admissions) if n % 3 == customer)
        assert ranks == list(range(1, 21))
    # no statement of their own: every statement was an admission
    assert statements and all("INSERT INTO customer_conversations" in s for s in statements)

    # A redelivery (the same message again, as a first try or a retry) adds nothing and
    # reads the counts back; so does a redelivery in the same batch as a new message.
    again = await replicas[0].admit(messages[0], _counting(messages[0], now))
    assert again.counts == [60, 20, 0]
    late = api_message("+33600000", tenant)
    both = await asyncio.gather(
        replicas[1].admit(messages[3], _counting(messages[3], now)),
        replicas[1].admit(late, _counting(late, now)),
    )
    assert sorted(a.counts[0] for a in both) == [60, 61]
    assert both[1].counts[1] == 21


async def test_a_transcribed_voice_notes_first_try_counts_and_its_retry_does_not(
    engine: AsyncEngine,
) -> None:
    tenant, now = uuid.uuid4(), datetime.now(UTC)
    store = SqlConversationStore(Statements(engine), 3, timedelta(hours=1))
    voice = api_message("+33611", tenant, "where is my order")
    await store.transcribe(voice)  # the row exists before the message is answered
    first = await store.admit(voice, _counting(voice, now, if_seen=True))
    retry = await store.admit(voice, _counting(voice, now))
    assert first.counts == [1, 1, 0] and retry.counts == [1, 1, 0]


async def test_a_replys_tokens_are_counted_with_its_row_once(engine: AsyncEngine) -> None:
    tenant, now = uuid.uuid4(), datetime.now(UTC)
    store = SqlConversationStore(Statements(engine), 3, timedelta(hours=1))
    message = api_message("+33612", tenant)
    await store.admit(message)
    reply = BotReply("ok", "user", "m", 100, 23, now)
    spent = [token_increment(tenant, 123, now)]
    await asyncio.gather(
        store.save_reply(message, reply, spent), store.save_reply(message, reply, spent)
    )
    await store.save_reply(message, reply, spent)  # a redelivery racing: stored nothing
    follow = api_message("+33612", tenant)
    admitted = await store.admit(follow, _counting(follow, now))
    assert admitted.counts[2] == 123
    # a store without counting (the replay's) runs the plain statements: nothing counted
    plain = await store.admit(api_message("+33612", tenant))
    assert not plain.counts


async def test_a_turns_tokens_are_counted_with_its_reply_row_and_not_when_superseded(
    engine: AsyncEngine,
) -> None:
    store = SqlTurnStore(engine, "r1", timedelta(seconds=15), timedelta(seconds=30))
    settings, t0 = TurnSettings(quiet_ms=2000, max_ms=8000), datetime.now(UTC)
    first = api_message(f"+3361{uuid.uuid4().int % 10**7:07d}", uuid.uuid4())
    first = first.model_copy(update={"channel": Channel.WHATSAPP})
    tenant = first.user_id
    assert tenant is not None
    await store.join(first, settings, t0)

    async def claimed(at: datetime) -> ClaimedTurn:
        (turn,) = [t for t in await store.claim(at, 100) if t.user_id == tenant]
        return turn

    turn = await claimed(t0 + timedelta(seconds=3))
    await store.join(
        first.model_copy(update={"message_id": "late-" + first.message_id}),
        settings,
        t0 + timedelta(seconds=4),
    )
    reply = BotReply("ok", "user", "m", 40, 2, t0)
    spent = token_increment(tenant, 42, t0)
    assert await store.store_reply(turn, reply, t0, spent) is None  # superseded: not counted
    again = await claimed(t0 + timedelta(seconds=7))
    assert await store.store_reply(again, reply, t0, spent) == reply
    reading = await SqlLimitCounters(Statements(engine)).add([token_increment(tenant, 0, t0)])
    assert reading == [42]


async def test_a_turn_claimed_again_counts_only_the_messages_not_counted_before(
    engine: AsyncEngine,
) -> None:
    tenant, now = uuid.uuid4(), datetime.now(UTC)
    counters = SqlLimitCounters(Statements(engine))
    ids = [f"wamid.{uuid.uuid4().hex}" for _ in range(3)]
    first = await counters.add(turn_increments(tenant, "+33613", ids[:2], now))
    assert (first[0], first[1], first[-1]) == (2, 2, 0)
    # superseded by a third message, claimed again; then once more (a crash): +1, then +0
    again = await counters.add(turn_increments(tenant, "+33613", ids, now))
    assert (again[0], again[1]) == (3, 3)
    crash = await counters.add(turn_increments(tenant, "+33613", ids, now))
    assert (crash[0], crash[1]) == (3, 3)
