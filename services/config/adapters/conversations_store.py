"""The conversations read models: written by the projection (as config_worker, in the
transaction that records the events), read by the tenant's routes (as config_api, where
row-level security shows the tenant its own rows only)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Table, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.tables import conversation_tenant_owner, conversations
from services.config.domain.change_events import Row
from services.config.domain.conversations import Activity, OwnerState, parse_key

_OWNER_COLUMNS = (
    "owner",
    "owner_until",
    "owner_changed_by",
    "owner_actor",
    "owner_reason",
    "owner_message_id",
    "owner_changed_at",
)


async def apply_activity(session: AsyncSession, found: Sequence[Activity]) -> None:
    """Adds new messages to their conversations (counts, first and last times)."""
    if not found:
        return
    statement = insert(conversations)
    new = statement.excluded
    table = conversations.c
    upsert = statement.on_conflict_do_update(
        index_elements=[table.user_id, table.conversation_key],
        set_={
            "message_count": table.message_count + new.message_count,
            "first_message_at": func.least(table.first_message_at, new.first_message_at),
            "last_message_at": func.greatest(table.last_message_at, new.last_message_at),
            # The message's own values win over those read from the key by an owner change
            # projected first: the row ends the same whatever order the topics came in.
            "channel": func.coalesce(new.channel, table.channel),
            "customer_phone": func.coalesce(new.customer_phone, table.customer_phone),
            "business_phone": func.coalesce(new.business_phone, table.business_phone),
        },
    )
    rows = [
        {
            "user_id": a.user_id,
            "conversation_key": a.conversation_key,
            "channel": a.channel,
            "customer_phone": a.customer_phone,
            "business_phone": a.business_phone,
            "first_message_at": a.first_message_at,
            "last_message_at": a.last_message_at,
            "message_count": a.message_count,
        }
        for a in found
    ]
    await session.execute(upsert, rows)


async def apply_owners(session: AsyncSession, states: Sequence[OwnerState]) -> None:
    """Each change replaces the stored owner unless the stored one is newer."""
    own = [s for s in states if s.conversation_key is not None]
    tenant_wide = [s for s in states if s.conversation_key is None]
    if own:
        rows = [{**_conversation_of(s), **_owner_values(s)} for s in own]
        await session.execute(_owner_upsert(conversations, ["user_id", "conversation_key"]), rows)
    if tenant_wide:
        rows = [{"user_id": s.user_id, **_owner_values(s)} for s in tenant_wide]
        await session.execute(_owner_upsert(conversation_tenant_owner, ["user_id"]), rows)


def _owner_upsert(table: Table, keys: list[str]) -> Any:
    statement = insert(table)
    stored = table.c.owner_changed_at
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: statement.excluded[name] for name in _OWNER_COLUMNS},
        where=or_(stored.is_(None), stored <= statement.excluded.owner_changed_at),
    )


def _conversation_of(state: OwnerState) -> dict[str, Any]:
    """A conversation first seen through its owner: what its key says (the key's business
    part may be a number id, so the business phone waits for a message)."""
    channel, _, customer = parse_key(state.conversation_key or "")
    return {
        "conversation_key": state.conversation_key,
        "channel": channel,
        "customer_phone": customer,
    }


def _owner_values(state: OwnerState) -> dict[str, Any]:
    return {
        "user_id": state.user_id,
        "owner": state.owner,
        "owner_until": state.until,
        "owner_changed_by": state.changed_by,
        "owner_actor": state.actor[:64] if state.actor else None,
        "owner_reason": state.reason,
        "owner_message_id": state.message_id,
        "owner_changed_at": state.changed_at,
    }


class ConversationDirectory(Protocol):
    async def exists(self, user_id: uuid.UUID, conversation_key: str) -> bool: ...

    async def page(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[int, list[Row]]: ...

    async def tenant_owner(self, user_id: uuid.UUID) -> Row | None: ...


class SqlConversationDirectory:
    """Reads in the caller's transaction. The `user_id` filters are stated although row-level
    security already applies them, so the intent reads in the query."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def exists(self, user_id: uuid.UUID, conversation_key: str) -> bool:
        table = conversations.c
        query = select(table.conversation_key).where(
            table.user_id == user_id, table.conversation_key == conversation_key
        )
        return (await self._session.execute(query)).first() is not None

    async def page(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[int, list[Row]]:
        table = conversations.c
        total = await self._session.scalar(
            select(func.count()).select_from(conversations).where(table.user_id == user_id)
        )
        query = (
            select(conversations)
            .where(table.user_id == user_id)
            .order_by(
                table.last_message_at.desc().nulls_last(),
                table.owner_changed_at.desc().nulls_last(),
                table.conversation_key,
            )
            .limit(limit)
            .offset(offset)
        )
        rows: list[Row] = list((await self._session.execute(query)).mappings().all())
        return int(total or 0), rows

    async def tenant_owner(self, user_id: uuid.UUID) -> Row | None:
        query = select(conversation_tenant_owner).where(
            conversation_tenant_owner.c.user_id == user_id
        )
        return (await self._session.execute(query)).mappings().first()
