"""Config writes on a real PostgreSQL and Kafka, their publishes forced out of commit order:
versions follow the commits, a view keeps the newest change, and the compacted topic's last
record for the entity is the newest change (what a view rebuilt after compaction starts from).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.config.adapters.audit import Actor, ActorRole, AuditTrail
from services.config.adapters.compaction import newest_last
from services.config.adapters.config_store import SqlConfigStore
from services.config.adapters.outbox import ConfigOutbox, make_config_outbox
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.tables import config_outbox
from services.config.adapters.tenancy import DbRole, role_sessions, tenant_session
from services.config.domain.changes import Entity, secrets_equal
from services.responder.domain.groq_settings import GroqSettingsView
from shared.config_feed import ConfigFeed
from shared.contracts.topics import CONFIG_CHANGES
from shared.crypto import SecretBox
from shared.db import make_engine
from shared.messaging import make_broker
from shared.outbox import Outbox, OutboxUnit, StagedEvent
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration
BOX = SecretBox(Fernet.generate_key().decode())
WRITERS: set[uuid.UUID] = set()  # the tenants whose rows a test wrote


@pytest.fixture
async def engine(bootstrapped: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(bootstrapped["DATABASE_URL"], pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def _no_rows_left(engine: AsyncEngine) -> AsyncIterator[None]:
    """Its rows hold keys encrypted with this module's own box: a later test that rotates
    the stack's secrets over every row could not open them."""
    yield
    while WRITERS:
        user = WRITERS.pop()
        async with tenant_session(engine, user) as session, session.begin():
            await session.execute(
                text("DELETE FROM user_groq_config WHERE user_id = :user"), {"user": user}
            )


@pytest.fixture
async def broker(bootstrapped: dict[str, str]) -> AsyncIterator[KafkaBroker]:
    broker = make_broker(bootstrapped["KAFKA_BOOTSTRAP_SERVERS"], client_id="it-config-order")
    await broker.connect()
    yield broker
    await broker.stop()


@pytest.fixture
def outbox(engine: AsyncEngine, broker: KafkaBroker) -> ConfigOutbox:
    return make_config_outbox(role_sessions(engine, DbRole.WORKER), broker)


def _repo(unit: OutboxUnit, user: uuid.UUID) -> ConfigRepository:
    audit = AuditTrail(unit.session, Actor(ActorRole.USER, user))
    return ConfigRepository(SqlConfigStore(unit.session), audit, unit, secrets_equal(BOX))


async def _commit_unit(outbox: Outbox, unit: OutboxUnit) -> list[StagedEvent]:
    """What `Outbox.unit` does before its commit, without publishing: this test publishes
    the events itself, in the order it wants."""
    return await outbox.add_many(unit.session, unit.entries)


def _groq(model: str) -> dict[str, object]:
    return {
        "api_key_encrypted": BOX.encrypt("gsk_order"),
        "api_key_hint": "…rder",
        "model": model,
        "temperature": 0.5,
    }


async def _commit_put(
    engine: AsyncEngine, outbox: Outbox, user: uuid.UUID, model: str
) -> StagedEvent:
    WRITERS.add(user)
    async with tenant_session(engine, user) as session, session.begin():
        unit = OutboxUnit(session)
        await _repo(unit, user).put(Entity.GROQ, user, _groq(model))
        [staged] = await _commit_unit(outbox, unit)
    return staged


def _version(staged: StagedEvent) -> int:
    version: int = json.loads(staged.payload)["version"]
    return version


async def _on_topic(kafka: str, user: uuid.UUID) -> list[dict[str, object]]:
    """The user's Groq config records, in topic order."""
    events = [json.loads(v) for _, _, v in await read_topic(kafka, CONFIG_CHANGES.name) if v]
    return [
        e for e in events if e["event_type"] == "GroqConfigChanged" and e["user_id"] == str(user)
    ]


async def _wait_until_blocked(engine: AsyncEngine) -> None:
    """Until some statement on the Groq config table waits for a lock."""
    waiting = text(
        "select count(*) from pg_stat_activity"
        " where wait_event_type = 'Lock' and query ilike '%user_groq_config%'"
    )
    deadline = time.monotonic() + 10
    while True:
        async with engine.connect() as connection:
            if (await connection.execute(waiting)).scalar_one():
                return
        assert time.monotonic() < deadline, "the second writer never waited for the lock"
        await asyncio.sleep(0.02)


async def _rebuilt_model(kafka: str, user: uuid.UUID) -> str | None:
    view = GroqSettingsView()
    view.fallback_enabled = False
    feed = ConfigFeed(kafka, view.apply)
    await feed.start()
    await feed.stop()
    resolved = view.resolve(user)
    return resolved.account.model if resolved else None


async def test_versions_follow_commit_order_even_when_writers_interleave(
    engine: AsyncEngine, outbox: Outbox
) -> None:
    user = uuid.uuid4()
    created = await _commit_put(engine, outbox, user, "created")
    async with tenant_session(engine, user) as first, first.begin():
        unit = OutboxUnit(first)
        await _repo(unit, user).put(Entity.GROQ, user, _groq("first"))
        await _commit_unit(outbox, unit)
        # the second writer waits for the first's row lock, so it commits after it
        second = asyncio.create_task(_commit_put(engine, outbox, user, "second"))
        await _wait_until_blocked(engine)
    later = await second

    async with tenant_session(engine, user) as session, session.begin():
        unit = OutboxUnit(session)
        await _repo(unit, user).delete(Entity.GROQ, user)
        [deleted] = await _commit_unit(outbox, unit)
    recreated = await _commit_put(engine, outbox, user, "recreated")

    assert _version(created) == 1
    assert [_version(later), _version(deleted), _version(recreated)] == [3, 4, 5]
    assert created.id < later.id < deleted.id < recreated.id  # outbox ids follow versions


async def test_a_view_keeps_the_newer_change_when_the_older_arrives_last(
    bootstrapped: dict[str, str], engine: AsyncEngine, broker: KafkaBroker
) -> None:
    """The version rule alone (an outbox that never re-publishes)."""
    kafka, user = bootstrapped["KAFKA_BOOTSTRAP_SERVERS"], uuid.uuid4()
    plain = Outbox(config_outbox, role_sessions(engine, DbRole.WORKER), broker)
    older = await _commit_put(engine, plain, user, "older")
    newer = await _commit_put(engine, plain, user, "newer")

    await plain.publish([newer])
    await plain.publish([older])  # lost the race: reaches Kafka last

    records = await _on_topic(kafka, user)
    assert [(r["model"], r["version"]) for r in records] == [("newer", 2), ("older", 1)]
    assert await _rebuilt_model(kafka, user) == "newer"


async def test_the_newest_change_is_sent_again_after_an_older_one(
    bootstrapped: dict[str, str], engine: AsyncEngine, outbox: ConfigOutbox
) -> None:
    """So compaction keeps the newest: a view rebuilt afterwards starts from it."""
    kafka, user = bootstrapped["KAFKA_BOOTSTRAP_SERVERS"], uuid.uuid4()
    older = await _commit_put(engine, outbox, user, "older")
    newer = await _commit_put(engine, outbox, user, "newer")

    await outbox.publish([newer])
    await outbox.publish([older])
    await outbox.settle()  # the check after each publish runs in the background

    records = await _on_topic(kafka, user)
    assert [(r["model"], r["version"]) for r in records] == [
        ("newer", 2),
        ("older", 1),
        ("newer", 2),
    ]
    assert await _rebuilt_model(kafka, user) == "newer"


async def test_the_relay_sending_a_stranded_change_late_is_followed_by_the_newest(
    bootstrapped: dict[str, str],
    engine: AsyncEngine,
    broker: KafkaBroker,
    outbox: ConfigOutbox,
) -> None:
    kafka, user = bootstrapped["KAFKA_BOOTSTRAP_SERVERS"], uuid.uuid4()
    worker = role_sessions(engine, DbRole.WORKER)
    checks = newest_last(config_outbox, worker)
    relay = Outbox(config_outbox, worker, broker, relay_after=timedelta(0), after_publish=checks)
    await _commit_put(engine, outbox, user, "stranded")  # its fast path never ran
    newer = await _commit_put(engine, outbox, user, "newer")
    await outbox.publish([newer])

    while await relay.relay_once():
        pass
    await outbox.settle()
    await checks.drain()

    records = await _on_topic(kafka, user)
    assert [r["model"] for r in records][-1] == "newer"
    assert "stranded" in [r["model"] for r in records]
    assert await _rebuilt_model(kafka, user) == "newer"
