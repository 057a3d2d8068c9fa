"""The limit counters against PostgreSQL (issue 16): two stores standing for two replicas,
many concurrent messages, and every count exact; one statement per batch, and each message
sees the count just after its own increment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.adapters.counters import SqlLimitCounters
from services.responder.domain.limits import message_increments, token_increment
from shared.db import Statements, make_engine

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
