"""The turn store on a real, migrated PostgreSQL: messages join one open turn in arrival
order, a redelivery joins nothing, two replicas claim a due turn once, a reply is stored
only at the version it was generated from, a voice note holds its turn until resolved."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.adapters.turns import ClaimedTurn, SqlTurnStore
from services.responder.domain.conversation import BotReply
from services.responder.domain.turns import TurnSettings
from shared.contracts.messages import Channel, IdentifiedBy, MediaKind, MediaRef, UserIdentified
from shared.db import make_engine

pytestmark = pytest.mark.integration
SETTINGS = TurnSettings(quiet_ms=2000, max_ms=8000)
LEASE, MEDIA_WAIT = timedelta(seconds=15), timedelta(seconds=30)


@pytest.fixture
async def engine(bootstrapped: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(bootstrapped["DATABASE_URL"], pool_size=4)
    yield engine
    await engine.dispose()


def _store(engine: AsyncEngine, replica: str = "r1") -> SqlTurnStore:
    return SqlTurnStore(engine, replica, LEASE, MEDIA_WAIT)


def _message(customer: str, text_: str, media: MediaRef | None = None) -> UserIdentified:
    return UserIdentified(
        message_id=f"wamid.{uuid.uuid4().hex}",
        conversation_key=f"whatsapp:pn:{customer}",
        channel=Channel.WHATSAPP,
        source="whatsapp",
        customer_phone=customer,
        text=text_,
        received_at=datetime.now(UTC).isoformat(),
        user_id=uuid.uuid4(),
        identified_by=IdentifiedBy.WHATSAPP_CONFIG,
        media=media,
    )


def _customer() -> str:
    return f"+3361{uuid.uuid4().int % 10**7:07d}"


async def _claimed(store: SqlTurnStore, customer: str, at: datetime) -> list[ClaimedTurn]:
    return [t for t in await store.claim(at, 100) if customer in t.conversation_key]


async def _due(store: SqlTurnStore, customer: str, at: datetime) -> list[str]:
    return [
        t.conversation_key for t in await store.claim(at, 100) if customer in t.conversation_key
    ]


async def test_messages_join_one_turn_in_order_and_a_redelivery_joins_nothing(
    engine: AsyncEngine,
) -> None:
    store, customer, t0 = _store(engine), _customer(), datetime.now(UTC)
    messages = [_message(customer, f"m{n}") for n in range(3)]
    for n, message in enumerate(messages):
        assert await store.join(message, SETTINGS, t0 + timedelta(milliseconds=500 * n))
    assert not await store.join(messages[1], SETTINGS, t0 + timedelta(seconds=2))

    assert await _due(store, customer, t0 + timedelta(milliseconds=2900)) == []
    [turn] = [
        t for t in await store.claim(t0 + timedelta(seconds=3), 100) if t.last == messages[-1]
    ]
    assert turn.message_ids == [m.message_id for m in messages]
    assert turn.version == 3


async def test_two_replicas_claim_a_due_turn_once_and_a_lease_outlives_no_crash(
    engine: AsyncEngine,
) -> None:
    customer, t0 = _customer(), datetime.now(UTC)
    await _store(engine).join(_message(customer, "hi"), SETTINGS, t0)
    at = t0 + timedelta(seconds=3)
    first, second = await asyncio.gather(
        _due(_store(engine, "r1"), customer, at), _due(_store(engine, "r2"), customer, at)
    )
    assert sorted([len(first), len(second)]) == [0, 1]
    # The claimer crashed: after its lease, another replica takes the turn.
    assert await _due(_store(engine, "r2"), customer, at + timedelta(seconds=5)) == []
    assert len(await _due(_store(engine, "r2"), customer, at + LEASE + timedelta(seconds=1))) == 1


async def test_one_statement_renews_the_leases_this_replica_holds_and_no_other(
    engine: AsyncEngine,
) -> None:
    mine, theirs, t0 = [_customer(), _customer()], _customer(), datetime.now(UTC)
    for customer in mine:
        await _store(engine).join(_message(customer, "hi"), SETTINGS, t0)
    await _store(engine).join(_message(theirs, "hi"), SETTINGS, t0 + timedelta(seconds=2))
    at = t0 + timedelta(seconds=3)  # mine are due, theirs a second later
    held = [
        t
        for t in await _store(engine, "r1").claim(at, 100)
        if any(c in t.conversation_key for c in mine)
    ]
    other = await _claimed(_store(engine, "r2"), theirs, at + timedelta(seconds=1))
    assert len(held) == 2 and len(other) == 1

    # Renewed just before the leases end: a lease later, nobody may claim them.
    await _store(engine, "r1").renew([t.turn_id for t in held + other], at + LEASE)
    later = at + LEASE + timedelta(seconds=2)
    taken = {t.turn_id for t in await _store(engine, "r3").claim(later, 100)}
    assert taken & {t.turn_id for t in held} == set()
    assert other[0].turn_id in taken  # r2's lease: not r1's to renew


async def test_a_reply_is_stored_only_at_the_version_it_was_generated_from(
    engine: AsyncEngine,
) -> None:
    store, customer, t0 = _store(engine), _customer(), datetime.now(UTC)
    await store.join(_message(customer, "hi"), SETTINGS, t0)
    [turn] = [
        t
        for t in await store.claim(t0 + timedelta(seconds=3), 100)
        if customer in t.conversation_key
    ]
    late = _message(customer, "and one more thing")
    await store.join(late, SETTINGS, t0 + timedelta(seconds=4))  # during the generation
    reply = BotReply("stale", "user", "m", 1, 1, t0 + timedelta(seconds=4))
    assert await store.store_reply(turn, reply, t0 + timedelta(seconds=4)) is None

    [again] = [
        t
        for t in await store.claim(t0 + timedelta(seconds=7), 100)
        if customer in t.conversation_key
    ]
    assert again.turn_id == turn.turn_id and again.message_ids[-1] == late.message_id
    fresh = BotReply("fresh", "user", "m", 1, 1, t0 + timedelta(seconds=7))
    assert await store.store_reply(again, fresh, t0 + timedelta(seconds=7)) == fresh
    # Stored, not yet published: a later claim (after a crash) re-announces it.
    [replied] = [
        t
        for t in await store.claim(t0 + timedelta(seconds=30), 100)
        if customer in t.conversation_key
    ]
    assert replied.state == "replied"
    assert await store.stored_reply(replied) == fresh
    await store.finish(replied.turn_id, "done")
    assert await _due(store, customer, t0 + timedelta(minutes=5)) == []
    async with engine.connect() as connection:
        bot = (
            await connection.execute(
                text(
                    "select content from customer_conversations "
                    "where message_id = :id and sender = 'bot'"
                ),
                {"id": late.message_id},
            )
        ).all()
    assert [row.content for row in bot] == ["fresh"]


async def test_a_voice_note_holds_its_turn_until_its_transcript_or_the_timeout(
    engine: AsyncEngine,
) -> None:
    store, customer, t0 = _store(engine), _customer(), datetime.now(UTC)
    voice = _message(customer, "", MediaRef(kind=MediaKind.AUDIO, media_id="m", voice=True))
    await store.join(_message(customer, "hello"), SETTINGS, t0)
    await store.join(voice, SETTINGS, t0 + timedelta(seconds=1))
    assert await _due(store, customer, t0 + timedelta(seconds=10)) == []  # no transcript yet
    assert await store.resolve_media(
        voice.message_id, "my order", None, SETTINGS, t0 + timedelta(seconds=11)
    )
    [turn] = [
        t
        for t in await store.claim(t0 + timedelta(seconds=11), 100)
        if customer in t.conversation_key
    ]
    assert [m.event.text for m in turn.messages] == ["hello", "my order"]

    other = _customer()
    lost = _message(other, "", MediaRef(kind=MediaKind.AUDIO, media_id="n", voice=True))
    await store.join(lost, SETTINGS, t0)
    assert len(await _due(store, other, t0 + MEDIA_WAIT + timedelta(seconds=1))) == 1
    assert not await store.resolve_media("wamid.unknown", "x", None, SETTINGS, t0)

    # Its turn went without it; the late transcript opens the conversation's next turn.
    [went] = await _claimed(store, other, t0 + MEDIA_WAIT + LEASE + timedelta(seconds=2))
    await store.finish(went.turn_id, "skipped")
    later = t0 + timedelta(minutes=2)
    assert await store.resolve_media(lost.message_id, "late words", None, SETTINGS, later)
    [next_turn] = await _claimed(store, other, later + timedelta(seconds=5))
    assert next_turn.turn_id != went.turn_id
    assert [m.event.text for m in next_turn.messages] == ["late words"]
