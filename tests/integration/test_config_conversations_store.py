"""The conversations read model in PostgreSQL, written by the projection's own store as
config_worker: a redelivered batch counts nothing twice, an older owner change never
replaces a newer one, and a tenant reads only its own rows (row-level security)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.config.adapters.conversations_store import SqlConversationDirectory
from services.config.adapters.projection_store import MessageEventStore
from services.config.adapters.tables import conversations
from services.config.adapters.tenancy import DbRole, admin_session, role_sessions, tenant_session
from services.config.domain.projection import ProjectedEvent, project
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
)
from shared.contracts.messages import Channel, IdentifiedBy, UserIdentified
from shared.contracts.topics import CONVERSATION_OWNERS, MESSAGES_IDENTIFIED
from shared.db import make_engine

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture
async def engine(bootstrapped: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(bootstrapped["DATABASE_URL"], pool_size=2)
    yield engine
    await engine.dispose()


def _message(user: uuid.UUID, key: str, customer: str, at: datetime) -> ProjectedEvent:
    event = UserIdentified(
        message_id=f"m-{uuid.uuid4()}",
        conversation_key=key,
        channel=Channel.WHATSAPP,
        source="whatsapp",
        customer_phone=customer,
        business_phone="+14155550100",
        text="hi",
        received_at=at.isoformat(),
        user_id=user,
        identified_by=IdentifiedBy.WHATSAPP_CONFIG,
        occurred_at=at,
    )
    return project(MESSAGES_IDENTIFIED.name, event.model_dump_json().encode(), None)


def _owner(user: uuid.UUID, key: str, owner: ConversationOwner, at: datetime) -> ProjectedEvent:
    event = ConversationOwnerChanged(
        user_id=user,
        conversation_key=key,
        owner=owner,
        changed_by=OwnerChangedBy.TENANT_API,
        occurred_at=at,
    )
    return project(CONVERSATION_OWNERS.name, event.model_dump_json().encode(), None)


async def test_redelivery_counts_once_and_the_newest_owner_stays(engine: AsyncEngine) -> None:
    store = MessageEventStore(role_sessions(engine, DbRole.WORKER))
    user, other = uuid.uuid4(), uuid.uuid4()
    customer = f"+3360{uuid.uuid4().int % 10**7:07d}"
    key = f"whatsapp:PN1:{customer}"
    first = [_message(user, key, customer, T0), _message(user, key, customer, T0 + timedelta(1))]
    newer = _owner(user, key, ConversationOwner.PAUSED, T0 + timedelta(hours=2))
    older = _owner(user, key, ConversationOwner.HUMAN, T0 + timedelta(hours=1))
    # The owner arrives before the conversation's messages (another topic), then again.
    await store.record_many([newer])
    await store.record_many(first)
    await store.record_many([*first, newer])  # a redelivery
    await store.record_many([older])  # late, from another writer
    await store.record_many([_message(other, f"whatsapp:PN2:{customer}", customer, T0)])

    async with admin_session(engine) as session, session.begin():
        query = select(conversations).where(conversations.c.conversation_key == key)
        [row] = (await session.execute(query)).mappings().all()
    assert row["message_count"] == 2
    assert (row["first_message_at"], row["last_message_at"]) == (T0, T0 + timedelta(1))
    assert (row["owner"], row["owner_changed_at"]) == ("paused", newer.occurred_at)
    assert (row["channel"], row["customer_phone"], row["business_phone"]) == (
        "whatsapp",
        customer,
        "+14155550100",
    )

    async with tenant_session(engine, user) as session, session.begin():
        directory = SqlConversationDirectory(session)
        total, rows = await directory.page(user, 50, 0)
        assert total == 1 and [r["conversation_key"] for r in rows] == [key]
        assert await directory.exists(user, key)
        # another tenant's row is invisible even when the query names that tenant
        assert (await directory.page(other, 50, 0))[0] == 0
        assert not await directory.exists(other, f"whatsapp:PN2:{customer}")
