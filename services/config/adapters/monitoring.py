"""The seed's monitoring queries, over the config service's own data: its settings tables
and the message-event projection (read as config_admin)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    select,
    union,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.tables import (
    message_events,
    user_groq_config,
    user_twilio_config,
    user_whatsapp_config,
    webhook_api_links,
)

IDENTIFIED = "UserIdentified"
events = message_events


def _identified_since(hours: int) -> ColumnElement[bool]:
    since = func.now() - timedelta(hours=hours)
    return and_(events.c.event_type == IDENTIFIED, events.c.occurred_at > since)


async def identification_stats(session: AsyncSession, hours: int) -> tuple[int, int]:
    """Distinct messages identified in the window, and how many found a tenant."""
    query = select(
        func.count(events.c.message_id.distinct()).label("total"),
        func.count(events.c.message_id.distinct())
        .filter(events.c.user_id.is_not(None))
        .label("identified"),
    ).where(_identified_since(hours))
    row = (await session.execute(query)).mappings().one()
    return int(row["total"]), int(row["identified"])


def _unassociated(hours: int) -> Select[tuple[object, ...]]:
    """One row per message none of whose identifications found a tenant (latest first)."""
    other = events.alias("other")
    found_later = exists().where(
        other.c.message_id == events.c.message_id,
        other.c.event_type == IDENTIFIED,
        other.c.user_id.is_not(None),
    )
    return (
        select(
            events.c.message_id,
            events.c.occurred_at,
            events.c.trace_id,
            events.c.summary["customer_phone"].astext.label("customer_phone"),
            events.c.summary["text"].astext.label("text"),
            events.c.summary["channel"].astext.label("channel"),
        )
        .where(_identified_since(hours), events.c.user_id.is_(None), ~found_later)
        .distinct(events.c.message_id)
        .order_by(events.c.message_id, events.c.occurred_at.desc())
    )


async def unassociated(
    session: AsyncSession, hours: int, limit: int, offset: int
) -> tuple[int, list[RowMapping]]:
    found = _unassociated(hours).subquery()
    total = (await session.execute(select(func.count()).select_from(found))).scalar_one()
    page = (
        select(found)
        .order_by(found.c.occurred_at.desc(), found.c.message_id)
        .limit(limit)
        .offset(offset)
    )
    return int(total), list((await session.execute(page)).mappings().all())


def _coverage() -> Select[tuple[object, ...]]:
    """Known users (a settings row, or a message identified as theirs) and their Groq status."""
    known = union(
        select(user_groq_config.c.user_id),
        select(user_whatsapp_config.c.user_id),
        select(user_twilio_config.c.user_id),
        select(webhook_api_links.c.user_id),
        select(events.c.user_id).where(events.c.user_id.is_not(None)),
    ).subquery("known")
    last_message = (
        select(func.max(events.c.occurred_at))
        .where(events.c.user_id == known.c.user_id, events.c.event_type == IDENTIFIED)
        .scalar_subquery()
    )
    status = case((user_groq_config.c.user_id.is_(None), "Missing"), else_="Configured")
    return select(
        known.c.user_id,
        status.label("groq_status"),
        last_message.label("last_message_at"),
    ).select_from(known.outerjoin(user_groq_config, user_groq_config.c.user_id == known.c.user_id))


async def coverage(
    session: AsyncSession, status: str | None, limit: int, offset: int
) -> tuple[RowMapping, list[RowMapping]]:
    users = _coverage().subquery()
    counts_query = select(
        func.count().label("total"),
        func.count().filter(users.c.groq_status == "Configured").label("configured"),
        func.count().filter(users.c.groq_status == "Missing").label("missing"),
    )
    counts = (await session.execute(counts_query)).mappings().one()
    page = select(users)
    if status is not None:
        page = page.where(users.c.groq_status == status)
    page = (
        page.order_by(
            users.c.groq_status, users.c.last_message_at.desc().nulls_last(), users.c.user_id
        )
        .limit(limit)
        .offset(offset)
    )
    return counts, list((await session.execute(page)).mappings().all())


async def timeline(session: AsyncSession, message_id: str) -> list[RowMapping]:
    """The message's events, plus provider receipts of the replies it was delivered as."""
    delivered = events.alias("delivered")
    provider_ids = select(
        func.jsonb_array_elements_text(delivered.c.summary["provider_message_ids"])
    ).where(delivered.c.message_id == message_id, delivered.c.event_type == "ReplyDelivered")
    receipts = events.c.event_type == "DeliveryStatusReported"
    query = (
        select(events)
        .where(
            (events.c.message_id == message_id)
            | (receipts & events.c.provider_message_id.in_(provider_ids))
        )
        .order_by(events.c.occurred_at, events.c.id)
    )
    return list((await session.execute(query)).mappings().all())
