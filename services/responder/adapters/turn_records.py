"""What the turn store hands out (a claimed turn with its messages, in order) and what it
promises (the `TurnStore` port; adapters/turns.py implements it on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.responder.domain.conversation import BotReply, Turn
from services.responder.domain.limits import Increment
from services.responder.domain.turns import TurnSettings
from shared.contracts.messages import UserIdentified


@dataclass(frozen=True)
class TurnMessage:
    event: UserIdentified  # its text is the transcript once a voice note's arrived
    awaiting_media: bool
    fallback_text: str | None


@dataclass(frozen=True)
class ClaimedTurn:
    turn_id: uuid.UUID
    state: str  # "open" (to generate) | "replied" (to re-announce)
    version: int
    conversation_key: str
    user_id: uuid.UUID | None
    first_at: datetime
    failures: int
    failing_since: datetime | None
    reply_message_id: str | None
    messages: Sequence[TurnMessage]

    @property
    def last(self) -> UserIdentified:
        return self.messages[-1].event

    @property
    def message_ids(self) -> list[str]:
        return [m.event.message_id for m in self.messages]


class TurnStore(Protocol):
    async def join(
        self, message: UserIdentified, settings: TurnSettings, now: datetime
    ) -> bool: ...

    async def resolve_media(
        self,
        message_id: str,
        text: str | None,
        fallback: str | None,
        settings: TurnSettings,
        now: datetime,
    ) -> bool: ...

    async def claim(self, now: datetime, limit: int) -> list[ClaimedTurn]: ...

    async def renew(self, turn_ids: Sequence[uuid.UUID], now: datetime) -> None:
        """Extend the leases this replica holds on these turns (one statement)."""

    async def history(self, turn: ClaimedTurn, since: datetime, limit: int) -> list[Turn]: ...

    async def store_reply(
        self, turn: ClaimedTurn, reply: BotReply, now: datetime, spent: Increment | None = None
    ) -> BotReply | None:
        """`spent`: the tokens to add to the tenant's day counter with the reply's row."""
        ...

    async def stored_reply(self, turn: ClaimedTurn) -> BotReply | None: ...

    async def finish(self, turn_id: uuid.UUID, state: str) -> None: ...

    async def defer(self, turn: ClaimedTurn, until: datetime, failing_since: datetime) -> None: ...

    async def release(self, turn_id: uuid.UUID) -> None: ...

    async def latest_states(self, conversation_key: str, limit: int) -> list[str]: ...
