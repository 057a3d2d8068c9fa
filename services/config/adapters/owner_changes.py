"""A tenant's owner change as one piece: the conversation checked to be the tenant's, the
change staged on conversations.owner.v1 (keyed `owner_key`) and its audit entry, in one
transaction of the caller's outbox unit. The read model follows from the event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.config.adapters.audit import Audit
from services.config.adapters.config_store import ConfigStore
from services.config.adapters.conversations_store import ConversationDirectory
from services.config.adapters.repository import Stager
from services.config.domain.changes import Action, Entity
from services.config.domain.owners import DEFAULT_HUMAN_EXPIRY_S, owner_change
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    owner_key,
)
from shared.contracts.topics import CONVERSATION_OWNERS


class UnknownConversation(Exception):
    """No conversation with this key among the caller's (another tenant's looks the same)."""


class OwnerChanges:
    def __init__(
        self,
        store: ConfigStore,
        directory: ConversationDirectory,
        audit: Audit,
        unit: Stager,
        actor: uuid.UUID,
    ) -> None:
        self._store = store
        self._directory = directory
        self._audit = audit
        self._unit = unit
        self._actor = actor

    async def change(
        self,
        user_id: uuid.UUID,
        conversation_key: str | None,
        owner: ConversationOwner,
        until: datetime | None,
        *,
        until_given: bool,
    ) -> ConversationOwnerChanged:
        if conversation_key is not None and not await self._directory.exists(
            user_id, conversation_key
        ):
            raise UnknownConversation
        settings = await self._store.get(Entity.CONVERSATION_SETTINGS, user_id)
        expiry_s = settings["human_expiry_s"] if settings else DEFAULT_HUMAN_EXPIRY_S
        event = owner_change(
            user_id,
            conversation_key,
            owner,
            until,
            until_given=until_given,
            expiry_s=expiry_s,
            actor=self._actor,
            now=datetime.now(UTC),
        )
        fields = ["owner", "until"] if event.until is not None else ["owner"]
        if conversation_key is None:
            fields.append("all_conversations")
        await self._audit.record(Entity.CONVERSATION_OWNER, Action.UPDATED, user_id, fields)
        self._unit.stage(CONVERSATION_OWNERS.name, owner_key(event), event)
        return event
