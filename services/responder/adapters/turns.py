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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.responder.adapters import turn_queries as sql
from services.responder.adapters.turn_records import ClaimedTurn, TurnMessage, TurnStore
from services.responder.domain.conversation import BotReply, Turn
from services.responder.domain.limits import Increment
from services.responder.domain.turns import TurnSettings, due_at
from shared.contracts.messages import MediaKind, UserIdentified
from shared.db import make_sessionmaker

# The turn's types and port live in turn_records.py; importable from here as before.
__all__ = ["ClaimedTurn", "SqlTurnStore", "TurnMessage", "TurnStore"]


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
            if (await session.execute(sql.KNOWN, {"id": message.message_id})).first():
                return False
            turn_id, position = await self._open_or_grow(session, message, settings, now)
            await session.execute(
                sql.ADD_MESSAGE,
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
        turn = (await session.execute(sql.OPEN_TURN, {"key": message.conversation_key})).first()
        deadline = now + self._media_wait if awaiting else None
        if turn is None:
            turn_id = uuid.uuid4()
            await session.execute(
                sql.NEW_TURN,
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
                sql.GROW_TURN,
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
            row = (await session.execute(sql.MEDIA_OF, {"id": message_id})).first()
            if row is None:
                return False
            if not row.awaiting_media:
                return True  # a redelivered MediaResolved
            await session.execute(
                sql.RESOLVE_MESSAGE, {"id": message_id, "text": text or None, "fallback": fallback}
            )
            if row.state == "open":
                await session.execute(sql.RESOLVE_TURN, {"turn_id": row.turn_id, "now": now})
            elif text:
                late = UserIdentified.model_validate(row.event).model_copy(
                    update={"text": text, "media": None}
                )
                turn_id, position = await self._open_or_grow(session, late, settings, now)
                await session.execute(
                    sql.MOVE_MESSAGE, {"id": message_id, "turn_id": turn_id, "position": position}
                )
        return True

    async def claim(self, now: datetime, limit: int) -> list[ClaimedTurn]:
        async with self._sessions.begin() as session:
            claimed = (
                await session.execute(
                    sql.CLAIM,
                    {"now": now, "lease_until": now + self._lease, "me": self._me, "limit": limit},
                )
            ).all()
            if not claimed:
                return []
            rows = await session.execute(sql.MESSAGES, {"ids": [str(r.turn_id) for r in claimed]})
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

    async def renew(self, turn_ids: Sequence[uuid.UUID], now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                sql.RENEW,
                {"turn_ids": list(turn_ids), "me": self._me, "lease_until": now + self._lease},
            )

    async def history(self, turn: ClaimedTurn, since: datetime, limit: int) -> list[Turn]:
        last = turn.last
        statement = sql.HISTORY_OF_TENANT if last.user_id else sql.HISTORY_WITHOUT_TENANT
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
        self, turn: ClaimedTurn, reply: BotReply, now: datetime, spent: Increment | None = None
    ) -> BotReply | None:
        """Store the turn's reply if the turn is still what was generated from; None: a
        message joined meanwhile (superseded; the turn waits for its new due time).
        `spent` (issue 16): the tokens, counted by the statement storing the row."""
        last = turn.last
        async with self._sessions.begin() as session:
            current = (await session.execute(sql.CURRENT, {"turn_id": turn.turn_id})).one()
            if current.state != "open" or current.version != turn.version:
                if current.leased_by == self._me:
                    await session.execute(sql.RELEASE, {"turn_id": turn.turn_id})
                return None
            await _save_bot_row(session, last, reply, spent)
            stored = (await session.execute(sql.BOT_ROW, {"message_id": last.message_id})).one()
            await session.execute(
                sql.REPLIED, {"turn_id": turn.turn_id, "message_id": last.message_id, "now": now}
            )
        return _bot_reply(stored)

    async def stored_reply(self, turn: ClaimedTurn) -> BotReply | None:
        async with self._sessions() as session:
            row = (
                await session.execute(sql.BOT_ROW, {"message_id": turn.reply_message_id})
            ).first()
        return None if row is None else _bot_reply(row)

    async def finish(self, turn_id: uuid.UUID, state: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(sql.FINISH, {"turn_id": turn_id, "state": state})

    async def defer(self, turn: ClaimedTurn, until: datetime, failing_since: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                sql.DEFER,
                {"turn_id": turn.turn_id, "until": until, "failing_since": failing_since},
            )

    async def release(self, turn_id: uuid.UUID) -> None:
        async with self._sessions.begin() as session:
            await session.execute(sql.RELEASE, {"turn_id": turn_id})

    async def latest_states(self, conversation_key: str, limit: int) -> list[str]:
        """The states of the conversation's latest answered or failed turns, newest first."""
        async with self._sessions() as session:
            rows = await session.execute(
                sql.LATEST_STATES, {"key": conversation_key, "limit": limit}
            )
            return [row.state for row in rows]


async def _save_bot_row(
    session: AsyncSession, message: UserIdentified, reply: BotReply, spent: Increment | None
) -> None:
    counted = {}
    if spent is not None:
        counted = {
            "count_scope": spent.scope,
            "count_bucket": spent.bucket,
            "count_add": spent.add,
            "count_expires": spent.expires_at,
        }
    await session.execute(
        sql.SAVE_BOT_ROW if spent is None else sql.SAVE_BOT_ROW_COUNTED,
        {
            **counted,
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
