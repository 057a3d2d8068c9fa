"""The conversation store: inbound and bot rows, written idempotently by message id.

The responder's own state (it reads the context from it, and a stored bot row is what stops
a redelivery from asking Groq twice), and every row is also in the log: an inbound row is
its UserIdentified (`admit`), a bot row its ResponseGenerated (`save_reply`, written just
before the event is published, and re-announced from the row on a redelivery). Each row is
a function of its event alone, times included, so entrypoints/replay.py rebuilds the table
from messages.identified.v1 and messages.outcomes.v1 with these two methods.

Concurrent messages share statements (group commit, shared/batching.py): one statement
stores every waiting inbound message and reads, for each, the reply an earlier attempt
stored and its conversation's recent turns; another stores every finished reply. Each
statement takes arrays (unnest), so its text is the same for any batch size and the
driver prepares it once per connection.

Issue 16: a tenant's limit counters ride on these two statements (a data-modifying CTE
each, adapters/counters.py): a message is counted by the statement that stores its row
(once: a redelivery finds the row and adds nothing) and its reply's tokens by the one that
stores the reply. A batch with nothing to count runs the plain statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row

from services.responder.adapters import conversation_queries as queries
from services.responder.adapters.counters import (
    Expiry,
    counts_after_each,
    increment_columns,
)
from services.responder.domain.conversation import Admission, BotReply, Turn
from services.responder.domain.limits import Increment
from shared.batching import GroupCommitter
from shared.contracts.messages import Channel, UserIdentified
from shared.db import Statements


class ConversationStore(Protocol):
    async def admit(self, message: UserIdentified, counting: Sequence[Increment] = ()) -> Admission:
        """Store the customer's message (once); its earlier reply, if any, and its context;
        `counting`: the limit counters to add to (see `Increment`), their values in
        `Admission.counts`."""
        ...

    async def save_reply(
        self, message: UserIdentified, reply: BotReply, counting: Sequence[Increment] = ()
    ) -> BotReply:
        """Store the reply once; if another attempt stored one first, that one (and
        `counting`, the tokens it spent, is added only if this one was stored)."""
        ...

    async def transcribe(self, message: UserIdentified) -> None:
        """A voice note's transcript (the message's text now) becomes its inbound row's
        content, whether the row is stored yet or not."""
        ...


class Side(Protocol):
    """What a row needs of its message: UserIdentified and ResponseGenerated both have it."""

    @property
    def message_id(self) -> str: ...
    @property
    def user_id(self) -> UUID | None: ...
    @property
    def customer_phone(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def channel(self) -> Channel: ...


# Built once per store (the table name is fixed). The two context branches keep the (phone_number, user_id, created_at) index
# usable (`user_id IS NOT DISTINCT FROM` would not be); only one can match a message.
def _columns(messages: Sequence[Side]) -> dict[str, list[Any]]:
    return {
        "message_ids": [m.message_id for m in messages],
        "user_ids": [m.user_id for m in messages],
        "phones": [m.customer_phone for m in messages],
        "sources": [m.source for m in messages],
        "channels": [m.channel.value for m in messages],
    }


def _reply(row: Row[Any]) -> BotReply:
    return BotReply(
        content=row.content,
        config_source=row.config_source or "none",
        model=row.model or "",
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        created_at=row.created_at,
    )


class SqlConversationStore:
    def __init__(
        self,
        db: Statements,
        context_messages: int,
        context_window: timedelta,
        table: str = "customer_conversations",
    ) -> None:
        """`table`: the replay writes the same statements to its shadow table."""
        self._db = db
        self._admit = text(queries.ADMIT.format(table=table))
        self._admit_counted = text(queries.ADMIT_COUNTED.format(table=table))
        self._save_replies = text(queries.SAVE_REPLIES.format(table=table))
        self._save_replies_counted = text(queries.SAVE_REPLIES_COUNTED.format(table=table))
        self._expiry = Expiry()
        self._stored_replies = text(queries.STORED_REPLIES.format(table=table))
        self._transcribe = text(queries.TRANSCRIBE.format(table=table))
        self._context_messages = context_messages
        self._context_window = context_window
        self._admissions = GroupCommitter(self._admit_all)
        self._replies = GroupCommitter(self._save_all)

    async def admit(self, message: UserIdentified, counting: Sequence[Increment] = ()) -> Admission:
        return await self._admissions.submit((message, tuple(counting)))

    async def save_reply(
        self, message: Side, reply: BotReply, counting: Sequence[Increment] = ()
    ) -> BotReply:
        return await self._replies.submit((message, reply, tuple(counting)))

    async def transcribe(self, message: UserIdentified) -> None:
        await self._db.execute(
            self._transcribe,
            {
                "message_id": message.message_id,
                "user_id": message.user_id,
                "phone": message.customer_phone,
                "content": message.text,
                "source": message.source,
                "channel": message.channel.value,
                "created_at": message.occurred_at,
            },
        )

    async def _admit_all(
        self, requests: Sequence[tuple[UserIdentified, tuple[Increment, ...]]]
    ) -> list[Admission]:
        messages = [message for message, _ in requests]
        parameters = {
            **_columns(messages),
            "contents": [m.text for m in messages],
            # The event's time, not the clock's: a rebuild from the log writes the same row.
            "created_ats": [m.occurred_at for m in messages],
            "since": datetime.now(UTC) - self._context_window,
            "context_limit": self._context_messages,
        }
        counting = any(increments for _, increments in requests)
        if counting:
            owners = [n for n, (_, inc) in enumerate(requests, start=1) for _ in inc]
            flat = [increment for _, increments in requests for increment in increments]
            parameters.update(increment_columns(owners, flat))
        statement = self._admit_counted if counting else self._admit
        prior: dict[int, BotReply] = {}
        history: dict[int, list[Turn]] = {}
        fresh: set[int] = set()
        totals: dict[tuple[str, int], int] = {}
        for row in await self._db.execute(statement, parameters):
            if row.kind == "reply":
                prior[row.n] = _reply(row)
            elif row.kind == "new":
                fresh.add(row.n)
            elif row.kind == "count":
                totals[(row.content, row.bucket)] = int(row.id)
            else:
                history.setdefault(row.n, []).append(Turn(row.kind, row.content))
        counts: list[list[int]] = [[] for _ in requests]
        if counting:
            await self._expiry.counted(self._db)
            added = [
                [replace(i, add=i.add if n in fresh else i.add_if_seen) for i in increments]
                for n, (_, increments) in enumerate(requests, start=1)
            ]
            counts = counts_after_each(added, totals)
        return [
            Admission(prior.get(n), history.get(n, ()), counts[n - 1])
            for n in range(1, len(requests) + 1)
        ]

    async def _save_all(
        self, items: Sequence[tuple[Side, BotReply, tuple[Increment, ...]]]
    ) -> list[BotReply]:
        replies = [reply for _, reply, _ in items]
        parameters = {
            **_columns([message for message, _, _ in items]),
            "contents": [r.content for r in replies],
            "config_sources": [r.config_source for r in replies],
            "models": [r.model for r in replies],
            "prompt_tokens": [r.prompt_tokens for r in replies],
            "completion_tokens": [r.completion_tokens for r in replies],
            "created_ats": [r.created_at for r in replies],
        }
        owners: list[str] = []
        flat: list[Increment] = []
        seen: set[str] = set()
        for message, _, increments in items:
            if message.message_id not in seen:  # the same reply twice is stored (and counted) once
                seen.add(message.message_id)
                owners += [message.message_id] * len(increments)
                flat += increments
        statement = self._save_replies
        if flat:
            parameters.update(increment_columns(owners, flat))
            statement = self._save_replies_counted
        inserted = {row.message_id for row in await self._db.execute(statement, parameters)}
        if flat:
            await self._expiry.counted(self._db)
        lost = [m.message_id for m, _, _ in items if m.message_id not in inserted]
        if not lost:
            return replies
        # Another attempt stored its reply first (a redelivery racing): announce that one.
        rows = await self._db.execute(self._stored_replies, {"message_ids": lost})
        stored = {row.message_id: _reply(row) for row in rows}
        return [stored.get(message.message_id, reply) for message, reply, _ in items]
