"""The config service's database roles on a real, migrated PostgreSQL: each transaction runs
as the role it chose and for its tenant only, nothing leaks into the next transaction on a
pooled connection, and each role can do exactly its job."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.config.adapters import monitoring
from services.config.adapters.projection_store import MessageEventStore
from services.config.adapters.tenancy import DbRole, admin_session, role_sessions, tenant_session
from services.config.domain.projection import ProjectedEvent

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
