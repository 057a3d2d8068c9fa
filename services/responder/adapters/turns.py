"""The turn store: messages join their conversation's open turn, pollers claim due turns.

Every step is one short transaction on the responder's own tables (adapters/tables.py):
- `join`: a message's row (its id is the primary key: a redelivery joins nothing) and its
  turn's new version, last arrival and due time;
- `claim`: due turns, `FOR UPDATE SKIP LOCKED` and a lease, so replicas share the work and
  a crashed poller's turn is taken again when its lease ends;
- `store_reply`: checks the version the generation started from and, only if no message
  joined meanwhile, stores the bot row (customer_conversations, the same row the replay
  writes from its ResponseGenerated) and marks the turn replied, in one transaction. A
  replied turn whose publish did not happen (a crash) is claimed again and re-announced.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.responder.domain.conversation import BotReply, Turn
from services.responder.domain.turns import TurnSettings, due_at
from shared.contracts.messages import MediaKind, UserIdentified
from shared.db import make_sessionmaker


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

    async def renew(self, turn_id: uuid.UUID, now: datetime) -> None: ...

    async def history(self, turn: ClaimedTurn, since: datetime, limit: int) -> list[Turn]: ...

    async def store_reply(
        self, turn: ClaimedTurn, reply: BotReply, now: datetime
    ) -> BotReply | None: ...

    async def stored_reply(self, turn: ClaimedTurn) -> BotReply | None: ...

    async def finish(self, turn_id: uuid.UUID, state: str) -> None: ...

    async def defer(self, turn: ClaimedTurn, until: datetime, failing_since: datetime) -> None: ...

    async def release(self, turn_id: uuid.UUID) -> None: ...

    async def latest_states(self, conversation_key: str, limit: int) -> list[str]: ...


_OPEN_TURN = text(
    "SELECT turn_id, version, first_at, awaiting_media, media_deadline FROM responder_turns "
    "WHERE conversation_key = :key AND state = 'open' FOR UPDATE"
)
_KNOWN = text("SELECT 1 FROM responder_turn_messages WHERE message_id = :id")
_NEW_TURN = text(
    "INSERT INTO responder_turns (turn_id, conversation_key, user_id, state, version, "
    "first_at, last_at, due_at, awaiting_media, media_deadline) VALUES (:turn_id, :key, "
    ":user_id, 'open', 1, :now, :now, :due_at, :awaiting, :media_deadline)"
)
_GROW_TURN = text(
    "UPDATE responder_turns SET version = version + 1, last_at = :now, due_at = :due_at, "
    "awaiting_media = awaiting_media + :awaiting, media_deadline = :media_deadline, "
    "updated_at = :now WHERE turn_id = :turn_id RETURNING version"
)
_ADD_MESSAGE = text(
    "INSERT INTO responder_turn_messages (message_id, turn_id, position, event, "
    "awaiting_media, joined_at) VALUES (:id, :turn_id, :position, CAST(:event AS jsonb), "
    ":awaiting, :now)"
)
_MEDIA_OF = text(
    "SELECT m.turn_id, m.awaiting_media, m.event, t.state FROM responder_turn_messages m "
    "JOIN responder_turns t ON t.turn_id = m.turn_id WHERE m.message_id = :id "
    "FOR UPDATE OF t, m"
)
_RESOLVE_MESSAGE = text(
    "UPDATE responder_turn_messages SET awaiting_media = false, fallback_text = :fallback, "
    "event = CASE WHEN CAST(:text AS text) IS NULL THEN event "
    "ELSE jsonb_set(event, '{text}', to_jsonb(CAST(:text AS text))) END "
    "WHERE message_id = :id"
)
_MOVE_MESSAGE = text(
    "UPDATE responder_turn_messages SET turn_id = :turn_id, position = :position "
    "WHERE message_id = :id"
)
_RESOLVE_TURN = text(
    "UPDATE responder_turns SET version = version + 1, updated_at = :now, "
    "awaiting_media = greatest(awaiting_media - 1, 0) WHERE turn_id = :turn_id"
)
_CLAIM = text(
    """
    UPDATE responder_turns t SET lease_until = :lease_until, leased_by = :me
    FROM (
        SELECT turn_id FROM responder_turns
        WHERE state IN ('open', 'replied') AND due_at <= :now
          AND (state = 'replied' OR awaiting_media = 0 OR media_deadline <= :now)
          AND (lease_until IS NULL OR lease_until < :now)
        ORDER BY due_at LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE t.turn_id = due.turn_id
    RETURNING t.turn_id, t.state, t.version, t.conversation_key, t.user_id, t.first_at,
              t.failures, t.failing_since, t.reply_message_id
    """
)
_MESSAGES = text(
    "SELECT turn_id, event, awaiting_media, fallback_text FROM responder_turn_messages "
    "WHERE turn_id = ANY(CAST(:ids AS uuid[])) ORDER BY turn_id, position"
)
_RENEW = text(
    "UPDATE responder_turns SET lease_until = :lease_until "
    "WHERE turn_id = :turn_id AND leased_by = :me"
)
_CURRENT = text(
    "SELECT state, version, leased_by FROM responder_turns WHERE turn_id = :turn_id FOR UPDATE"
)
_SAVE_BOT_ROW = text(
    """
    INSERT INTO customer_conversations
        (message_id, user_id, phone_number, content, sender, source, channel,
         config_source, model, prompt_tokens, completion_tokens, created_at)
    VALUES (:message_id, :user_id, :phone, :content, 'bot', :source, :channel,
            :config_source, :model, :prompt_tokens, :completion_tokens, :created_at)
    ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender DO NOTHING
    """
)
_BOT_ROW = text(
    "SELECT content, config_source, model, prompt_tokens, completion_tokens, created_at "
    "FROM customer_conversations WHERE message_id = :message_id AND sender = 'bot'"
)
_REPLIED = text(
    "UPDATE responder_turns SET state = 'replied', reply_message_id = :message_id, "
    "updated_at = :now WHERE turn_id = :turn_id"
)
_FINISH = text(
    "UPDATE responder_turns SET state = :state, lease_until = NULL, updated_at = now() "
    "WHERE turn_id = :turn_id"
)
_DEFER = text(
    "UPDATE responder_turns SET due_at = greatest(due_at, :until), failures = failures + 1, "
    "failing_since = :failing_since, lease_until = NULL, updated_at = now() "
    "WHERE turn_id = :turn_id AND state = 'open'"
)
_LATEST_STATES = text(
    "SELECT state FROM responder_turns WHERE conversation_key = :key "
    "AND state IN ('done', 'failed') ORDER BY updated_at DESC LIMIT :limit"
)
_RELEASE = text("UPDATE responder_turns SET lease_until = NULL WHERE turn_id = :turn_id")
_HISTORY = """
    SELECT sender, content FROM (
        SELECT c.sender, c.content, c.created_at, c.id FROM customer_conversations c
        WHERE c.phone_number = :phone AND {tenant} AND c.created_at >= :since
          AND c.content <> '' AND NOT (c.message_id = ANY(CAST(:ids AS text[])))
        ORDER BY c.created_at DESC, c.id DESC LIMIT :limit
    ) recent ORDER BY created_at, id
"""
_HISTORY_OF_TENANT = text(_HISTORY.format(tenant="c.user_id = :user_id"))
_HISTORY_WITHOUT_TENANT = text(_HISTORY.format(tenant="c.user_id IS NULL"))


def _awaits_media(message: UserIdentified) -> bool:
    return message.media is not None and not message.text.strip()


def _bot_reply(row: Any) -> BotReply:
    return BotReply(
        content=row.content,
        config_source=row.config_source or "none",
        model=row.model or "",
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        created_at=row.created_at,
    )


class SqlTurnStore:
    def __init__(
        self, engine: AsyncEngine, replica: str, lease: timedelta, media_wait: timedelta
    ) -> None:
        self._sessions = make_sessionmaker(engine)
        self._me = replica
        self._lease = lease
        self._media_wait = media_wait

    async def join(self, message: UserIdentified, settings: TurnSettings, now: datetime) -> bool:
        """Add the message to its conversation's open turn (or open one). False: it was
        already in a turn (a redelivery), nothing changed."""
        awaiting = _awaits_media(message)
        async with self._sessions.begin() as session:
            if (await session.execute(_KNOWN, {"id": message.message_id})).first():
                return False
            turn_id, position = await self._open_or_grow(session, message, settings, now)
            await session.execute(
                _ADD_MESSAGE,
                {
                    "id": message.message_id,
                    "turn_id": turn_id,
                    "position": position,
                    "event": message.model_dump_json(),
                    "awaiting": awaiting,
                    "now": now,
                },
            )
        return True

    async def _open_or_grow(
        self, session: AsyncSession, message: UserIdentified, settings: TurnSettings, now: datetime
    ) -> tuple[uuid.UUID, int]:
        """The conversation's open turn with this message as its newest (a new turn when
        none is open): its id and the message's position."""
        awaiting = _awaits_media(message)
        voice = awaiting and message.media is not None and message.media.kind is MediaKind.AUDIO
        turn = (await session.execute(_OPEN_TURN, {"key": message.conversation_key})).first()
        deadline = now + self._media_wait if awaiting else None
        if turn is None:
            turn_id = uuid.uuid4()
            await session.execute(
                _NEW_TURN,
                {
                    "turn_id": turn_id,
                    "key": message.conversation_key,
                    "user_id": message.user_id,
                    "now": now,
                    "due_at": due_at(now, now, message.text, voice, settings),
                    "awaiting": int(awaiting),
                    "media_deadline": deadline,
                },
            )
            return turn_id, 1
        if turn.media_deadline is not None:
            deadline = max(turn.media_deadline, deadline or turn.media_deadline)
        position: int = (
            await session.execute(
                _GROW_TURN,
                {
                    "turn_id": turn.turn_id,
                    "now": now,
                    "due_at": due_at(turn.first_at, now, message.text, voice, settings),
                    "awaiting": int(awaiting),
                    "media_deadline": deadline,
                },
            )
        ).scalar_one()
        return turn.turn_id, position

    async def resolve_media(
        self,
        message_id: str,
        text: str | None,
        fallback: str | None,
        settings: TurnSettings,
        now: datetime,
    ) -> bool:
        """A media item's text (a transcript) or polite text for a message held by a turn;
        False when no turn holds the message (it took the one-message path). A transcript
        arriving after its turn went without it joins the conversation's next turn."""
        async with self._sessions.begin() as session:
            row = (await session.execute(_MEDIA_OF, {"id": message_id})).first()
            if row is None:
                return False
            if not row.awaiting_media:
                return True  # a redelivered MediaResolved
            await session.execute(
                _RESOLVE_MESSAGE, {"id": message_id, "text": text or None, "fallback": fallback}
            )
            if row.state == "open":
                await session.execute(_RESOLVE_TURN, {"turn_id": row.turn_id, "now": now})
            elif text:
                late = UserIdentified.model_validate(row.event).model_copy(
                    update={"text": text, "media": None}
                )
                turn_id, position = await self._open_or_grow(session, late, settings, now)
                await session.execute(
                    _MOVE_MESSAGE, {"id": message_id, "turn_id": turn_id, "position": position}
                )
        return True

    async def claim(self, now: datetime, limit: int) -> list[ClaimedTurn]:
        async with self._sessions.begin() as session:
            claimed = (
                await session.execute(
                    _CLAIM,
                    {"now": now, "lease_until": now + self._lease, "me": self._me, "limit": limit},
                )
            ).all()
            if not claimed:
                return []
            rows = await session.execute(_MESSAGES, {"ids": [str(r.turn_id) for r in claimed]})
            messages: dict[uuid.UUID, list[TurnMessage]] = {}
            for row in rows:
                messages.setdefault(row.turn_id, []).append(
                    TurnMessage(
                        UserIdentified.model_validate(row.event),
                        row.awaiting_media,
                        row.fallback_text,
                    )
                )
        return [
            ClaimedTurn(
                turn_id=r.turn_id,
                state=r.state,
                version=r.version,
                conversation_key=r.conversation_key,
                user_id=r.user_id,
                first_at=r.first_at,
                failures=r.failures,
                failing_since=r.failing_since,
                reply_message_id=r.reply_message_id,
                messages=messages.get(r.turn_id, []),
            )
            for r in claimed
        ]

    async def renew(self, turn_id: uuid.UUID, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                _RENEW, {"turn_id": turn_id, "me": self._me, "lease_until": now + self._lease}
            )

    async def history(self, turn: ClaimedTurn, since: datetime, limit: int) -> list[Turn]:
        last = turn.last
        statement = _HISTORY_OF_TENANT if last.user_id else _HISTORY_WITHOUT_TENANT
        async with self._sessions() as session:
            rows = await session.execute(
                statement,
                {
                    "phone": last.customer_phone,
                    "user_id": last.user_id,
                    "since": since,
                    "ids": turn.message_ids,
                    "limit": limit,
                },
            )
            return [Turn(row.sender, row.content) for row in rows]

    async def store_reply(
        self, turn: ClaimedTurn, reply: BotReply, now: datetime
    ) -> BotReply | None:
        """Store the turn's reply if the turn is still what was generated from; None: a
        message joined meanwhile (superseded; the turn waits for its new due time)."""
        last = turn.last
        async with self._sessions.begin() as session:
            current = (await session.execute(_CURRENT, {"turn_id": turn.turn_id})).one()
            if current.state != "open" or current.version != turn.version:
                if current.leased_by == self._me:
                    await session.execute(_RELEASE, {"turn_id": turn.turn_id})
                return None
            await _save_bot_row(session, last, reply)
            stored = (await session.execute(_BOT_ROW, {"message_id": last.message_id})).one()
            await session.execute(
                _REPLIED, {"turn_id": turn.turn_id, "message_id": last.message_id, "now": now}
            )
        return _bot_reply(stored)

    async def stored_reply(self, turn: ClaimedTurn) -> BotReply | None:
        async with self._sessions() as session:
            row = (await session.execute(_BOT_ROW, {"message_id": turn.reply_message_id})).first()
        return None if row is None else _bot_reply(row)

    async def finish(self, turn_id: uuid.UUID, state: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(_FINISH, {"turn_id": turn_id, "state": state})

    async def defer(self, turn: ClaimedTurn, until: datetime, failing_since: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                _DEFER,
                {"turn_id": turn.turn_id, "until": until, "failing_since": failing_since},
            )

    async def release(self, turn_id: uuid.UUID) -> None:
        async with self._sessions.begin() as session:
            await session.execute(_RELEASE, {"turn_id": turn_id})

    async def latest_states(self, conversation_key: str, limit: int) -> list[str]:
        """The states of the conversation's latest answered or failed turns, newest first."""
        async with self._sessions() as session:
            rows = await session.execute(_LATEST_STATES, {"key": conversation_key, "limit": limit})
            return [row.state for row in rows]


async def _save_bot_row(session: AsyncSession, message: UserIdentified, reply: BotReply) -> None:
    await session.execute(
        _SAVE_BOT_ROW,
        {
            "message_id": message.message_id,
            "user_id": message.user_id,
            "phone": message.customer_phone,
            "content": reply.content,
            "source": message.source,
            "channel": message.channel.value,
            "config_source": reply.config_source,
            "model": reply.model,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "created_at": reply.created_at,
        },
    )
