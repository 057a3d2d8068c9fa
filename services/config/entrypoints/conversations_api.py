"""Conversation and media settings, conversation owners and the conversations list (issues
14 and 15; contract: docs/config-api.md). Thin: validate, write through the unit of work in
the tenant's role, answer. Settings never set answer the defaults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from services.config.adapters.owner_changes import UnknownConversation
from services.config.api import errors
from services.config.api.auth import UserId
from services.config.api.conversation_schemas import (
    ConversationOut,
    ConversationSettingsIn,
    ConversationSettingsOut,
    ConversationsPage,
    MediaSettingsIn,
    MediaSettingsOut,
    OwnerIn,
    OwnerOut,
    OwnerState,
)
from services.config.api.uow import TenantUow, UnitOfWork
from services.config.domain import conversations as domain
from services.config.domain.change_events import (
    CONVERSATION_SETTINGS_FIELDS,
    MEDIA_SETTINGS_FIELDS,
    Row,
)
from services.config.domain.changes import Entity
from shared.contracts.conversations import ConversationOwnerChanged

router = APIRouter(prefix="/v1", responses=errors.AUTH)
_NO_CONVERSATION: errors.Responses = {
    404: {"model": errors.ErrorOut, "description": "No conversation of yours has this key"},
    **errors.BAD_BODY,
}
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]
ConversationKey = Annotated[
    str,
    Path(
        min_length=3,
        max_length=512,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="As listed by GET /v1/me/conversations (`channel:business:customer`)",
    ),
]


async def _settings(uow: UnitOfWork, entity: Entity, user_id: uuid.UUID) -> Row | None:
    async with uow.repository() as repo:
        return await repo.get(entity, user_id)


async def _put_settings(
    uow: UnitOfWork, entity: Entity, user_id: uuid.UUID, values: dict[str, Any]
) -> Row:
    async with uow.repository() as repo:
        return await repo.put(entity, user_id, values)


# Conversation settings ---------------------------------------------------------------------
def _conversation_out(row: Row | None) -> ConversationSettingsOut:
    if row is None:
        defaults = ConversationSettingsIn().model_dump()
        return ConversationSettingsOut(**defaults, updated_at=None)
    values = {name: row[name] for name in CONVERSATION_SETTINGS_FIELDS}
    return ConversationSettingsOut(**values, updated_at=row["updated_at"])


@router.get("/me/conversation-settings", response_model=ConversationSettingsOut)
async def get_conversation_settings(user_id: UserId, uow: TenantUow) -> ConversationSettingsOut:
    """The tenant's turn window, typing / read, human expiry, handoff phrases and
    re-engagement template; the defaults (`updated_at: null`) when never set."""
    return _conversation_out(await _settings(uow, Entity.CONVERSATION_SETTINGS, user_id))


@router.put(
    "/me/conversation-settings", response_model=ConversationSettingsOut, responses=errors.BAD_BODY
)
async def put_conversation_settings(
    body: ConversationSettingsIn, user_id: UserId, uow: TenantUow
) -> ConversationSettingsOut:
    """Replace them (fields left out take their defaults); publishes
    ConversationSettingsChanged on config.changes.v1."""
    values = body.model_dump(include=set(CONVERSATION_SETTINGS_FIELDS))
    row = await _put_settings(uow, Entity.CONVERSATION_SETTINGS, user_id, values)
    return _conversation_out(row)


# Media settings ----------------------------------------------------------------------------
def _media_out(row: Row | None) -> MediaSettingsOut:
    if row is None:
        defaults = MediaSettingsIn().model_dump(mode="json")
        return MediaSettingsOut(**defaults, updated_at=None)
    values = {name: row[name] for name in MEDIA_SETTINGS_FIELDS}
    return MediaSettingsOut(**values, updated_at=row["updated_at"])


@router.get("/me/media-settings", response_model=MediaSettingsOut)
async def get_media_settings(user_id: UserId, uow: TenantUow) -> MediaSettingsOut:
    """Transcription and vision models, language hint, polite texts, document limit; the
    defaults (`updated_at: null`) when never set."""
    return _media_out(await _settings(uow, Entity.MEDIA_SETTINGS, user_id))


@router.put("/me/media-settings", response_model=MediaSettingsOut, responses=errors.BAD_BODY)
async def put_media_settings(
    body: MediaSettingsIn, user_id: UserId, uow: TenantUow
) -> MediaSettingsOut:
    """Replace them (fields left out take their defaults); publishes MediaSettingsChanged
    on config.changes.v1."""
    values = body.model_dump(mode="json", include=set(MEDIA_SETTINGS_FIELDS))
    return _media_out(await _put_settings(uow, Entity.MEDIA_SETTINGS, user_id, values))


# Owners ------------------------------------------------------------------------------------
async def _change_owner(
    uow: UnitOfWork, user_id: uuid.UUID, key: str | None, body: OwnerIn
) -> OwnerOut:
    try:
        async with uow.owner_changes() as changes:
            event = await changes.change(
                user_id, key, body.owner, body.until, until_given="until" in body.model_fields_set
            )
    except UnknownConversation as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation") from exc
    return _owner_out(event)


def _owner_out(event: ConversationOwnerChanged) -> OwnerOut:
    return OwnerOut(
        conversation_key=event.conversation_key,
        owner=event.owner,
        until=event.until,
        changed_by=event.changed_by,
        changed_at=event.occurred_at,
        event_id=event.event_id,
    )


@router.put("/me/conversations/owner", response_model=OwnerOut, responses=errors.BAD_BODY)
async def put_tenant_owner(body: OwnerIn, user_id: UserId, uow: TenantUow) -> OwnerOut:
    """Pause (or hand to a human) every conversation at once, or resume them (`bot`)."""
    return await _change_owner(uow, user_id, None, body)


@router.put(
    "/me/conversations/{conversation_key}/owner",
    response_model=OwnerOut,
    responses=_NO_CONVERSATION,
)
async def put_conversation_owner(
    conversation_key: ConversationKey, body: OwnerIn, user_id: UserId, uow: TenantUow
) -> OwnerOut:
    """Who answers this conversation: bot, human (stored, not answered) or paused."""
    return await _change_owner(uow, user_id, conversation_key, body)


# The list ----------------------------------------------------------------------------------
def _owner_state(row: Row | None, now: datetime) -> OwnerState | None:
    if row is None or row["owner_changed_at"] is None:
        return None
    stored = domain.OwnerState(
        user_id=row["user_id"],
        conversation_key=row.get("conversation_key"),
        owner=row["owner"],
        until=row["owner_until"],
        changed_by=row["owner_changed_by"],
        actor=row["owner_actor"],
        reason=row["owner_reason"],
        message_id=row["owner_message_id"],
        changed_at=row["owner_changed_at"],
    )
    state = domain.effective(stored, now)
    assert state is not None
    return OwnerState(
        owner=state.owner,
        until=state.until,
        changed_by=state.changed_by,
        actor=state.actor,
        reason=state.reason,
        changed_at=state.changed_at,
    )


_BOT = OwnerState(
    owner="bot", until=None, changed_by=None, actor=None, reason=None, changed_at=None
)


@router.get("/me/conversations", response_model=ConversationsPage)
async def list_conversations(
    user_id: UserId, uow: TenantUow, limit: Limit = 100, offset: Offset = 0
) -> ConversationsPage:
    """The tenant's conversations, most recent traffic first: channel, customer, message
    count, current owner (and who changed it, why, until when), and the tenant-wide switch."""
    async with uow.conversations() as directory:
        total, rows = await directory.page(user_id, limit, offset)
        tenant_row = await directory.tenant_owner(user_id)
    now = datetime.now(UTC)
    items = [
        ConversationOut(
            conversation_key=row["conversation_key"],
            channel=row["channel"],
            customer_phone=row["customer_phone"],
            business_phone=row["business_phone"],
            first_message_at=row["first_message_at"],
            last_message_at=row["last_message_at"],
            message_count=row["message_count"],
            owner=_owner_state(row, now) or _BOT,
        )
        for row in rows
    ]
    return ConversationsPage(
        limit=limit,
        offset=offset,
        total=total,
        tenant_owner=_owner_state(tenant_row, now),
        items=items,
    )
