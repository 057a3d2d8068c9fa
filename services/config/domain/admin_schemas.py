"""What the monitoring, timeline and audit endpoints return."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class IdentificationStats(BaseModel):
    hours: int
    total_messages: int = Field(description="Distinct inbound messages identified in the window")
    identified_messages: int = Field(description="Of those, matched to a tenant")
    success_rate: float | None = Field(
        description="identified / total in percent, 2 decimals; null when there were none"
    )


class UnassociatedMessage(BaseModel):
    message_id: str
    customer_phone: str | None
    text: str | None
    channel: str | None
    occurred_at: datetime
    trace_id: str | None


class UnassociatedPage(BaseModel):
    hours: int
    total: int
    limit: int
    offset: int
    items: list[UnassociatedMessage]


class GroqStatus(StrEnum):
    CONFIGURED = "Configured"
    MISSING = "Missing"


class UserCoverage(BaseModel):
    user_id: uuid.UUID
    groq_status: GroqStatus
    last_message_at: datetime | None = Field(description="Last message identified as theirs")


class CoveragePage(BaseModel):
    total: int
    configured: int
    missing: int
    limit: int
    offset: int
    users: list[UserCoverage]


class TimelineEvent(BaseModel):
    event_id: uuid.UUID
    event_type: str
    service: str
    occurred_at: datetime
    attempt: int | None
    user_id: uuid.UUID | None
    trace_id: str | None
    summary: dict[str, Any]


class MessageTimeline(BaseModel):
    message_id: str
    trace_id: str | None = Field(description="The trace of the message's first event")
    trace_ids: list[str] = Field(description="Every trace seen (a retried message has more)")
    trace_url: str | None = Field(
        default=None, description="`trace_id` in the trace viewer, when TRACE_UI_URL is set"
    )
    events: list[TimelineEvent]


class AuditEntry(BaseModel):
    id: int
    occurred_at: datetime
    user_id: uuid.UUID | None = Field(description="The tenant concerned; null = system settings")
    actor_role: str
    actor_id: uuid.UUID | None
    entity: str
    action: str
    changed_fields: list[str] = Field(description="Names only; never a value")
    trace_id: str | None


class AuditPage(BaseModel):
    limit: int
    offset: int
    items: list[AuditEntry]
