"""Monitoring (the seed's three queries), the message timeline and the audit log.

Administrator routes read as config_admin; `/v1/me/audit` reads as config_api, so a tenant
sees its own entries only, by row-level security.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from services.config.adapters import monitoring
from services.config.adapters.audit import audit_entries
from services.config.api import errors
from services.config.api.auth import Admin, UserId
from services.config.api.deps import Deps
from services.config.api.schemas import (
    AuditEntry,
    AuditPage,
    CoveragePage,
    GroqStatus,
    IdentificationStats,
    MessageTimeline,
    ReplyDelivery,
    TimelineEvent,
    UnassociatedMessage,
    UnassociatedPage,
    UserCoverage,
)
from services.config.api.uow import AdminUow, TenantUow
from services.config.domain.delivery import delivery_state

router = APIRouter(prefix="/v1", responses=errors.AUTH)

Hours = Annotated[int, Query(ge=1, le=720, description="The window, in hours (1 to 720)")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]
MessageId = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]


@router.get("/admin/stats/identification", response_model=IdentificationStats)
async def identification_stats(_: Admin, uow: AdminUow, hours: Hours = 24) -> IdentificationStats:
    async with uow.session() as session:
        total, identified = await monitoring.identification_stats(session, hours)
    rate = round(100.0 * identified / total, 2) if total else None
    return IdentificationStats(
        hours=hours, total_messages=total, identified_messages=identified, success_rate=rate
    )


@router.get("/admin/messages/unassociated", response_model=UnassociatedPage)
async def unassociated_messages(
    _: Admin, uow: AdminUow, hours: Hours = 24, limit: Limit = 100, offset: Offset = 0
) -> UnassociatedPage:
    async with uow.session() as session:
        total, rows = await monitoring.unassociated(session, hours, limit, offset)
    items = [UnassociatedMessage.model_validate(dict(row)) for row in rows]
    return UnassociatedPage(hours=hours, total=total, limit=limit, offset=offset, items=items)


@router.get("/admin/config-coverage", response_model=CoveragePage)
async def config_coverage(
    _: Admin,
    uow: AdminUow,
    groq_status: Annotated[GroqStatus | None, Query(description="Only this status")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CoveragePage:
    wanted = groq_status.value if groq_status else None
    async with uow.session() as session:
        counts, rows = await monitoring.coverage(session, wanted, limit, offset)
    return CoveragePage(
        total=counts["total"],
        configured=counts["configured"],
        missing=counts["missing"],
        limit=limit,
        offset=offset,
        users=[UserCoverage.model_validate(dict(row)) for row in rows],
    )


@router.get(
    "/admin/messages/{message_id:path}/timeline",
    response_model=MessageTimeline,
    responses=errors.NOT_FOUND,
)
async def message_timeline(
    message_id: MessageId, _: Admin, uow: AdminUow, deps: Deps
) -> MessageTimeline:
    async with uow.session() as session:
        rows = await monitoring.timeline(session, message_id)
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no event of this message was seen")
    events = [TimelineEvent.model_validate(dict(row)) for row in rows]
    state = delivery_state([dict(row) for row in rows])
    trace_ids = list(dict.fromkeys(e.trace_id for e in events if e.trace_id))
    trace_id = trace_ids[0] if trace_ids else None
    trace_ui = deps.settings.trace_ui_url
    return MessageTimeline(
        message_id=message_id,
        trace_id=trace_id,
        trace_ids=trace_ids,
        trace_url=f"{trace_ui.rstrip('/')}/trace/{trace_id}" if trace_ui and trace_id else None,
        events=events,
        delivery=ReplyDelivery.model_validate(asdict(state)) if state else None,
    )


@router.get("/admin/audit", response_model=AuditPage)
async def admin_audit(
    _: Admin,
    uow: AdminUow,
    user_id: Annotated[uuid.UUID | None, Query(description="Only this tenant")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AuditPage:
    async with uow.session() as session:
        rows = await audit_entries(session, user_id, limit, offset)
    items = [AuditEntry.model_validate(dict(row)) for row in rows]
    return AuditPage(limit=limit, offset=offset, items=items)


@router.get("/me/audit", response_model=AuditPage)
async def my_audit(
    user_id: UserId, uow: TenantUow, limit: Limit = 100, offset: Offset = 0
) -> AuditPage:
    async with uow.session() as session:
        rows = await audit_entries(session, user_id, limit, offset)
    items = [AuditEntry.model_validate(dict(row)) for row in rows]
    return AuditPage(limit=limit, offset=offset, items=items)
