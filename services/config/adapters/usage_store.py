"""Reads the usage events of the message-event projection (migration 0008 lets a tenant's
config_api transaction read its own rows, under row-level security)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.tables import message_events
from services.config.domain.usage import USAGE_EVENT_TYPES, UsageEvent

_e = message_events.c


async def usage_events(
    session: AsyncSession, start: datetime, end: datetime, user_id: uuid.UUID | None = None
) -> list[UsageEvent]:
    query = select(
        _e.event_type, _e.user_id, _e.message_id, _e.attempt, _e.occurred_at, _e.summary
    ).where(
        _e.event_type.in_(USAGE_EVENT_TYPES),
        _e.occurred_at >= start,
        _e.occurred_at < end,
        _e.user_id.is_not(None),
    )
    if user_id is not None:  # row-level security already says so for a tenant
        query = query.where(_e.user_id == user_id)
    rows = (await session.execute(query)).all()
    return [
        UsageEvent(r.event_type, r.user_id, r.message_id, r.attempt, r.occurred_at, r.summary)
        for r in rows
    ]
