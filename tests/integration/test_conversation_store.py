"""The responder's conversation store on a real, migrated PostgreSQL: concurrent messages
share one statement, each gets its own context (oldest first, its tenant only, itself
excluded) and the reply an earlier attempt stored; a reply is stored once."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.adapters.conversations import SqlConversationStore
from services.responder.domain.conversation import BotReply, Turn
from shared.contracts.messages import UserIdentified
from shared.db import Statements, make_engine
from tests.support.seams import api_message

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(bootstrapped: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(bootstrapped["DATABASE_URL"], pool_size=4)
    yield engine
    await engine.dispose()


def _statements(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    return seen


def _now() -> datetime:
    return datetime.now(UTC)


def _phone() -> str:
    return f"+1646{random.randint(2_000_000, 9_999_999)}"


async def _reply(store: SqlConversationStore, message: UserIdentified, content: str) -> BotReply:
    return await store.save_reply(message, BotReply(content, "user", "m", 1, 2, _now()))


async def test_concurrent_admissions_share_one_statement_and_keep_their_own_context(
    engine: AsyncEngine,
) -> None:
    store = SqlConversationStore(Statements(engine), 3, timedelta(hours=24))
    tenant, other, phone = uuid.uuid4(), uuid.uuid4(), _phone()
    for n in range(4):  # four turns of history; the context keeps the last three
        earlier = api_message(phone, tenant, f"earlier {n}")
        await store.admit(earlier)
        await _reply(store, earlier, f"answer {n}")
    await store.admit(api_message(phone, other, "another tenant's customer, same number"))
    anonymous_phone = _phone()
    await store.admit(api_message(anonymous_phone, None, "before, unidentified"))
    answered = api_message(_phone(), tenant)
    await store.admit(answered)
    await _reply(store, answered, "already answered")

    statements = _statements(engine)
    batch = [
        api_message(phone, tenant, "now"),
        api_message(anonymous_phone, None, "now, unidentified"),
        answered,
        *[api_message(_phone(), tenant) for _ in range(17)],
    ]
    admissions = await asyncio.gather(*(store.admit(m) for m in batch))

    assert 1 <= len(statements) <= 2  # the first alone, everyone who arrived meanwhile together
    assert admissions[0].prior is None
    assert admissions[0].history == [
        Turn("bot", "answer 2"),
        Turn("user", "earlier 3"),
        Turn("bot", "answer 3"),
    ]
    assert admissions[1].history == [Turn("user", "before, unidentified")]
    prior = admissions[2].prior
    assert prior is not None
    assert (prior.content, prior.config_source, prior.model) == ("already answered", "user", "m")
    assert all(a.prior is None and not a.history for a in admissions[3:])
    async with engine.connect() as connection:
        stored = await connection.execute(
            text("select count(*) from customer_conversations where message_id = any(:ids)"),
            {"ids": [m.message_id for m in batch]},
        )
        assert stored.scalar_one() == len(batch) + 1  # one inbound row each, plus one reply


async def test_a_reply_is_stored_once_and_the_loser_gets_the_stored_one(
    engine: AsyncEngine,
) -> None:
    store = SqlConversationStore(Statements(engine), 10, timedelta(hours=24))
    message = api_message(_phone(), None)
    await store.admit(message)
    first = await _reply(store, message, "first")
    second, third = await asyncio.gather(
        _reply(store, message, "second"), _reply(store, api_message(_phone(), None), "third")
    )
    assert (first.content, second.content, third.content) == ("first", "first", "third")
    again = await store.admit(message)
    assert again.prior is not None and again.prior.content == "first"
