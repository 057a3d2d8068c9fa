"""Usage (issue 16): `/v1/me/usage` (the tenant's own, per key, model and day) and
`/v1/admin/usage` (every tenant, the top N by tokens). Built from the projected events
(domain/usage.py), so a replay of the log rebuilds it with the projection."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from services.config.adapters.usage_store import usage_events
from services.config.api import errors
from services.config.api.auth import Admin, UserId
from services.config.api.uow import AdminUow, TenantUow
from services.config.domain.usage import UsageRow, aggregate, top_tenants

router = APIRouter(prefix="/v1", tags=["usage"], responses=errors.AUTH)
MAX_DAYS = 366
_BAD_RANGE: errors.Responses = {422: {"description": "from after to, or more than 366 days"}}


class RateLimitsOut(BaseModel):
    limit_requests: int | None = Field(None, description="Requests per day (x-ratelimit)")
    remaining_requests: int | None = Field(None, description="Requests left today")
    reset_requests: str | None = Field(None, description="When the request count resets")
    limit_tokens: int | None = Field(None, description="Tokens per minute")
    remaining_tokens: int | None = Field(None, description="Tokens left this minute")
    reset_tokens: str | None = Field(None, description="When the token count resets")


class UsageRowOut(BaseModel):
    day: date = Field(description="UTC day")
    key_id: str = Field(
        description="Pool key id; 'groq-config' = your single key; '' = the system fallback "
        "or audio transcription"
    )
    model: str = Field(description="Model that answered; 'audio' = voice notes transcribed")
    requests: int = Field(description="Answers from Groq")
    prompt_tokens: int = Field(description="Prompt tokens Groq reported (usage)")
    completion_tokens: int = Field(description="Completion tokens Groq reported (usage)")
    audio_seconds: float = Field(description="Seconds of audio transcribed")
    failures: int = Field(description="Calls this key did not answer (401/403, 429, 5xx…)")
    rate_limits: RateLimitsOut | None = Field(
        description="The last x-ratelimit-* values Groq sent that day for this key"
    )


class UsageOut(BaseModel):
    from_: date = Field(alias="from", description="First UTC day included")
    to: date = Field(description="Last UTC day included")
    rows: list[UsageRowOut] = Field(description="Per key, model and day")


class TenantUsageOut(BaseModel):
    user_id: uuid.UUID | None = Field(description="The tenant")
    requests: int = Field(description="Answers from Groq")
    prompt_tokens: int = Field(description="Prompt tokens")
    completion_tokens: int = Field(description="Completion tokens")
    audio_seconds: float = Field(description="Seconds of audio transcribed")
    failures: int = Field(description="Key failures")


class AdminUsageOut(BaseModel):
    from_: date = Field(alias="from", description="First UTC day included")
    to: date = Field(description="Last UTC day included")
    tenants: list[TenantUsageOut] = Field(description="The top tenants by tokens, then requests")


FromDay = Annotated[
    date | None, Query(alias="from", description="First UTC day (default: 29 days before to)")
]
ToDay = Annotated[date | None, Query(description="Last UTC day, included (default: today)")]


def _range(start: date | None, end: date | None) -> tuple[date, date, datetime, datetime]:
    refused = HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=f"'from' must be on or before 'to', at most {MAX_DAYS} days apart",
    )
    try:
        end = end or datetime.now(UTC).date()
        start = start or end - timedelta(days=29)
        low = datetime.combine(start, time.min, UTC)
        high = datetime.combine(end + timedelta(days=1), time.min, UTC)
    except OverflowError as exc:  # year 1 or 9999: outside what a day range can hold
        raise refused from exc
    if start > end or (end - start).days >= MAX_DAYS:
        raise refused
    return start, end, low, high


def _row_out(row: UsageRow) -> UsageRowOut:
    values: dict[str, Any] = {
        name: getattr(row, name) for name in UsageRowOut.model_fields if name != "rate_limits"
    }
    limits = RateLimitsOut.model_validate(row.rate_limits) if row.rate_limits else None
    return UsageRowOut(**values, rate_limits=limits)


@router.get(
    "/me/usage", response_model=UsageOut, response_model_by_alias=True, responses=_BAD_RANGE
)
async def my_usage(
    user_id: UserId, uow: TenantUow, from_: FromDay = None, to: ToDay = None
) -> UsageOut:
    start, end, low, high = _range(from_, to)
    async with uow.session() as session:
        events = await usage_events(session, low, high, user_id)
    rows = [_row_out(row) for row in aggregate(events)]
    return UsageOut.model_validate({"from": start, "to": end, "rows": rows})


@router.get(
    "/admin/usage", response_model=AdminUsageOut, response_model_by_alias=True, responses=_BAD_RANGE
)
async def all_usage(
    _: Admin,
    uow: AdminUow,
    from_: FromDay = None,
    to: ToDay = None,
    top: Annotated[int, Query(ge=1, le=1000, description="How many tenants")] = 20,
) -> AdminUsageOut:
    start, end, low, high = _range(from_, to)
    async with uow.session() as session:
        events = await usage_events(session, low, high)
    tenants = [
        TenantUsageOut(
            user_id=t.user_id,
            requests=t.requests,
            prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens,
            audio_seconds=t.audio_seconds,
            failures=t.failures,
        )
        for t in top_tenants(aggregate(events), top)
    ]
    return AdminUsageOut.model_validate({"from": start, "to": end, "tenants": tenants})
