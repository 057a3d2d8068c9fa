"""The conversation store: inbound and bot rows, written idempotently by message id.

The responder's own state (it reads the context from it, and a stored bot row is what stops
a redelivery from asking Groq twice), and every row is also in the log: an inbound row is
its UserIdentified (`save_inbound`), a bot row its ResponseGenerated (`save_reply`, written
just before the event is published, and re-announced from the row on a redelivery). Each
row is a function of its event alone, times included, so entrypoints/replay.py rebuilds
the table from messages.identified.v1 and messages.outcomes.v1 with these two methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping

from services.responder.adapters.tables import customer_conversations as conversations
from shared.contracts.messages import ResponseGenerated, UserIdentified
from shared.db import Statements


@dataclass(frozen=True)
class BotReply:
    content: str
    config_source: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    # When it was generated: the bot row's created_at and its ResponseGenerated's occurred_at.
    created_at: datetime


class ConversationStore:
    def __init__(self, db: Statements) -> None:
        self._db = db

    async def existing_reply(self, message_id: str) -> RowMapping | None:
        return (
            (
                await self._db.execute(
                    select(conversations).where(
                        conversations.c.message_id == message_id,
                        conversations.c.sender == "bot",
                    )
                )
            )
            .mappings()
            .first()
        )

    async def save_inbound(self, message: UserIdentified) -> bool:
        """Store the customer's message; False when it was stored before (a redelivery)."""
        statement = (
            insert(conversations)
            .values(
                message_id=message.message_id,
                user_id=message.user_id,
                phone_number=message.customer_phone,
                content=message.text,
                sender="user",
                source=message.source,
                channel=message.channel.value,
                created_at=message.occurred_at,
            )
            .on_conflict_do_nothing(constraint="uq_customer_conversations_message_sender")
            .returning(conversations.c.id)
        )
        return (await self._db.execute(statement)).first() is not None

    async def recent_context(
        self, message: UserIdentified, limit: int, window: timedelta
    ) -> list[tuple[str, str]]:
        """(sender, content) of the conversation's latest messages, oldest first."""
        if limit == 0:
            return []
        user_match = (
            conversations.c.user_id.is_(None)
            if message.user_id is None
            else conversations.c.user_id == message.user_id
        )
        query = (
            select(conversations.c.sender, conversations.c.content)
            .where(
                conversations.c.phone_number == message.customer_phone,
                user_match,
                conversations.c.message_id != message.message_id,
                conversations.c.created_at >= datetime.now(UTC) - window,
            )
            .order_by(conversations.c.created_at.desc(), conversations.c.id.desc())
            .limit(limit)
        )
        rows = (await self._db.execute(query)).all()
        return [(row.sender, row.content) for row in reversed(rows)]

    async def save_reply(self, reply: ResponseGenerated) -> BotReply:
        """Insert the bot row once; if another attempt won the race, return the stored one."""
        statement = (
            insert(conversations)
            .values(
                message_id=reply.message_id,
                user_id=reply.user_id,
                phone_number=reply.customer_phone,
                content=reply.response,
                sender="bot",
                source=reply.source,
                channel=reply.channel.value,
                config_source=reply.config_source.value,
                model=reply.model,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                created_at=reply.occurred_at,
            )
            .on_conflict_do_nothing(constraint="uq_customer_conversations_message_sender")
            .returning(conversations.c.id)
        )
        inserted = (await self._db.execute(statement)).first()
        if inserted is not None:
            return BotReply(
                content=reply.response,
                config_source=reply.config_source.value,
                model=reply.model,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                created_at=reply.occurred_at,
            )
        stored = await self.existing_reply(reply.message_id)
        assert stored is not None
        return reply_from_row(stored)


def reply_from_row(row: RowMapping) -> BotReply:
    return BotReply(
        content=row["content"],
        config_source=row["config_source"] or "none",
        model=row["model"] or "",
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        created_at=row["created_at"],
    )
