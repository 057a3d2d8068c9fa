"""The config service's database roles on a real, migrated PostgreSQL: each transaction runs
as the role it chose and for its tenant only, nothing leaks into the next transaction on a
pooled connection, and each role can do exactly its job."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.config.adapters import monitoring
from services.config.adapters.audit import Actor, ActorRole, AuditTrail
from services.config.adapters.config_store import SqlConfigStore
from services.config.adapters.outbox import make_config_outbox
from services.config.adapters.projection_store import MessageEventStore
from services.config.adapters.repository import ConfigRepository
from services.config.adapters.tables import config_outbox
from services.config.adapters.tenancy import (
    DbRole,
    Tenancy,
    admin_session,
    role_sessions,
    tenant_session,
)
from services.config.domain.changes import Entity, secrets_equal
from services.config.domain.projection import ProjectedEvent
from shared.crypto import SecretBox
from shared.messaging import make_broker

pytestmark = pytest.mark.integration
WHO = text("select current_user, current_setting('app.user_id', true)")


@pytest.fixture
async def engine(bootstrapped: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    # one pooled connection: every transaction below reuses the same server session
    engine = create_async_engine(bootstrapped["DATABASE_URL"], pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def test_each_transaction_runs_as_its_role_and_leaves_nothing_behind(
    engine: AsyncEngine,
) -> None:
    tenant = uuid.uuid4()
    async with tenant_session(engine, tenant) as session:
        async with session.begin():
            assert tuple((await session.execute(WHO)).one()) == ("config_api", str(tenant))
        async with session.begin():  # a second transaction of the same session: again
            assert tuple((await session.execute(WHO)).one()) == ("config_api", str(tenant))
    with pytest.raises(DBAPIError):
        async with tenant_session(engine, tenant) as session, session.begin():
            await session.execute(text("select * from system_settings"))  # not its table
    async with role_sessions(engine, DbRole.WORKER)() as session, session.begin():
        assert tuple((await session.execute(WHO)).one()) == ("config_worker", "")
    async with admin_session(engine) as session, session.begin():
        assert (await session.execute(WHO)).one()[0] == "config_admin"
    async with engine.connect() as connection:
        owner, setting = (await connection.execute(WHO)).one()
    assert owner not in {role.value for role in DbRole}
    assert not setting


async def test_the_projection_is_idempotent_and_read_by_the_admin_only(
    engine: AsyncEngine,
) -> None:
    message_id = f"tenancy-{uuid.uuid4()}"
    event = ProjectedEvent(
        event_id=uuid.uuid4(),
        event_type="MessageReceived",
        service="gateway",
        topic="messages.received.v1",
        message_id=message_id,
        attempt=1,
        user_id=None,
        provider_message_id=None,
        occurred_at=datetime.now(UTC),
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        summary={"channel": "api"},
    )
    store = MessageEventStore(role_sessions(engine, DbRole.WORKER))

    await store.record(event)
    await store.record(event)  # a redelivery

    async with admin_session(engine) as session, session.begin():
        rows = await monitoring.timeline(session, message_id)
    assert [(r["event_id"], r["trace_id"]) for r in rows] == [(event.event_id, event.trace_id)]
    with pytest.raises(DBAPIError, match="permission denied"):
        async with role_sessions(engine, DbRole.WORKER)() as session, session.begin():
            await session.execute(text("select summary from message_events"))


async def test_a_write_in_an_outbox_unit_runs_as_the_requests_role_and_publishes(
    engine: AsyncEngine, bootstrapped: dict[str, str]
) -> None:
    """The unit's session comes from the worker's factory; `Tenancy.begin` makes the whole
    transaction (savepoints included) the tenant's, and the unit publishes what it staged."""
    tenant, box = uuid.uuid4(), SecretBox(Fernet.generate_key().decode())
    broker = make_broker(bootstrapped["KAFKA_BOOTSTRAP_SERVERS"], client_id="it-tenancy")
    await broker.connect()
    try:
        outbox = make_config_outbox(role_sessions(engine, DbRole.WORKER), broker)
        async with outbox.unit(on_begin=Tenancy(DbRole.API, tenant).begin) as unit:
            assert tuple((await unit.session.execute(WHO)).one()) == ("config_api", str(tenant))
            audit = AuditTrail(unit.session, Actor(ActorRole.USER, tenant))
            repo = ConfigRepository(SqlConfigStore(unit.session), audit, unit, secrets_equal(box))
            values = {"api_key_encrypted": box.encrypt("gsk_x"), "api_key_hint": "…_x"}
            await repo.put(Entity.GROQ, tenant, {**values, "model": "m", "temperature": 0.1})
            # after the upsert's savepoint: still the tenant
            assert tuple((await unit.session.execute(WHO)).one()) == ("config_api", str(tenant))
        await outbox.settle()
    finally:
        await broker.stop()
    [staged] = unit.published
    assert unit.offset is not None  # published before the block returned
    async with role_sessions(engine, DbRole.WORKER)() as session, session.begin():
        marked = await session.execute(
            select(config_outbox.c.published_at).where(config_outbox.c.id == staged.id)
        )
        assert marked.scalar_one() is not None
