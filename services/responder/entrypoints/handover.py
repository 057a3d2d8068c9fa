"""A conversation handed to a person (the customer asked, the model said so, or turns kept
failing): a `ConversationOwnerChanged` with who, why and until when (the tenant's human
expiry), applied to this replica's view at once; the owner feed tells the others."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.responder.adapters.turn_records import ClaimedTurn
from services.responder.domain.turns import TurnSettingsView
from services.responder.entrypoints.turn_metrics import TURNS
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    owner_key,
)
from shared.contracts.topics import CONVERSATION_OWNERS
from shared.logging import get_logger
from shared.messaging import Outgoing, Publish
from shared.views.conversation_owners import ConversationOwners

log = get_logger(__name__)


@dataclass
class HandOver:
    publish: Publish
    owners: ConversationOwners
    settings: TurnSettingsView
    clock: Callable[[], datetime]

    async def __call__(
        self, turn: ClaimedTurn, user_id: uuid.UUID, by: OwnerChangedBy, reason: str
    ) -> None:
        now = self.clock()
        expiry = timedelta(seconds=self.settings.of(user_id).human_expiry_s)
        change = ConversationOwnerChanged(
            user_id=user_id,
            conversation_key=turn.conversation_key,
            owner=ConversationOwner.HUMAN,
            until=now + expiry,
            changed_by=by,
            message_id=turn.last.message_id,
            reason=reason,
        )
        await self.publish([Outgoing(CONVERSATION_OWNERS, change, owner_key(change))])
        self.owners.apply(change)
        TURNS.labels(f"handoff_{by.value}").inc()
        log.info("conversation handed to a person", message_id=turn.last.message_id, by=by.value)
