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

from services.responder.adapters.counters import (
    UPSERT,
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
_INCOMING = """
    incoming AS (
        SELECT * FROM unnest(
            CAST(:message_ids AS text[]), CAST(:user_ids AS uuid[]), CAST(:phones AS text[]),
            CAST(:contents AS text[]), CAST(:sources AS text[]), CAST(:channels AS text[]),
            CAST(:created_ats AS timestamptz[])
        ) WITH ORDINALITY AS i(message_id, user_id, phone_number, content, source, channel,
                               created_at, n)
    ),
    saved AS (
        INSERT INTO {table}
            (message_id, user_id, phone_number, content, sender, source, channel, created_at)
        SELECT message_id, user_id, phone_number, content, 'user', source, channel, created_at
        FROM incoming ORDER BY message_id
        ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender DO NOTHING
        RETURNING message_id
    )"""
_FOUND = """
    SELECT i.n, 'reply' AS kind, b.content, b.config_source, b.model,
           b.prompt_tokens, b.completion_tokens, b.created_at, b.id, NULL::bigint AS bucket
    FROM incoming i
    JOIN {table} b ON b.message_id = i.message_id AND b.sender = 'bot'
    UNION ALL
    SELECT i.n, r.sender, r.content, NULL, NULL, NULL, NULL, r.created_at, r.id, NULL
    FROM incoming i CROSS JOIN LATERAL (
        (SELECT c.sender, c.content, c.created_at, c.id FROM {table} c
         WHERE c.phone_number = i.phone_number AND c.user_id = i.user_id
           AND c.message_id <> i.message_id AND c.created_at >= :since
         ORDER BY c.created_at DESC, c.id DESC LIMIT :context_limit)
        UNION ALL
        (SELECT c.sender, c.content, c.created_at, c.id FROM {table} c
         WHERE i.user_id IS NULL AND c.phone_number = i.phone_number AND c.user_id IS NULL
           AND c.message_id <> i.message_id AND c.created_at >= :since
         ORDER BY c.created_at DESC, c.id DESC LIMIT :context_limit)
    ) r"""
# Built once per store (the table name is fixed). The two context branches keep the
# (phone_number, user_id, created_at) index usable (`user_id IS NOT DISTINCT FROM` would
# not be); only one can match a message.
_ADMIT_TEMPLATE = """
    WITH {incoming}
    {found}
    ORDER BY 1, 8, 9
    """
# Issue 16: the same, counting the limits in the same statement (no read, no statement of
# its own). `fresh`: the messages whose row this statement stored (the first of a message
# id twice in a batch); each increment adds `add` for a fresh message, else `add_if_seen`
# (a redelivery: 0, it was counted when its row was stored). The rows of kind 'new' and
# 'count' say which messages were fresh and what each counter holds after the batch.
_ADMIT_COUNTED_TEMPLATE = """
    WITH {incoming},
    fresh AS (
        SELECT min(i.n) AS n FROM incoming i JOIN saved s ON s.message_id = i.message_id
        GROUP BY i.message_id
    ),
    counted AS ({upsert})
    {found}
    UNION ALL
    SELECT f.n, 'new', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM fresh f
    UNION ALL
    SELECT 0, 'count', k.scope, NULL, NULL, NULL, NULL, NULL, k.count, k.bucket FROM counted k
    ORDER BY 1, 8, 9
    """
_ADMIT_INCREMENTS = """
        SELECT k.scope, k.bucket, CASE WHEN f.n IS NULL THEN k.seen_add ELSE k.add END AS add,
               k.expires_at
        FROM unnest(
            CAST(:count_owners AS bigint[]), CAST(:count_scopes AS text[]),
            CAST(:count_buckets AS bigint[]), CAST(:count_adds AS bigint[]),
            CAST(:count_seen_adds AS bigint[]), CAST(:count_expires AS timestamptz[])
        ) AS k(n, scope, bucket, add, seen_add, expires_at)
        LEFT JOIN fresh f ON f.n = k.n"""
# The table name stays a placeholder: each store fills it in (`{table}` in the parts is
# inserted as is).
_ADMIT = _ADMIT_TEMPLATE.format(incoming=_INCOMING, found=_FOUND)
_ADMIT_COUNTED = _ADMIT_COUNTED_TEMPLATE.format(
    incoming=_INCOMING, found=_FOUND, upsert=UPSERT.format(increments=_ADMIT_INCREMENTS)
)
_REPLIES = """
    INSERT INTO {table}
        (message_id, user_id, phone_number, content, sender, source, channel,
         config_source, model, prompt_tokens, completion_tokens, created_at)
    SELECT message_id, user_id, phone_number, content, 'bot', source, channel,
           config_source, model, prompt_tokens, completion_tokens, created_at
    FROM unnest(
        CAST(:message_ids AS text[]), CAST(:user_ids AS uuid[]), CAST(:phones AS text[]),
        CAST(:contents AS text[]), CAST(:sources AS text[]), CAST(:channels AS text[]),
        CAST(:config_sources AS text[]), CAST(:models AS text[]),
        CAST(:prompt_tokens AS integer[]), CAST(:completion_tokens AS integer[]),
        CAST(:created_ats AS timestamptz[])
    ) AS r(message_id, user_id, phone_number, content, source, channel,
           config_source, model, prompt_tokens, completion_tokens, created_at)
    ORDER BY message_id
    ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender DO NOTHING
    RETURNING message_id
    """
_SAVE_REPLIES = _REPLIES
# Issue 16: the tokens a reply spent, counted with its row, only if this statement stored
# it (a redelivery racing stores nothing and counts nothing).
_SAVE_REPLIES_COUNTED_TEMPLATE = """
    WITH saved AS ({replies}),
    counted AS ({upsert})
    SELECT message_id FROM saved
    """
_REPLY_INCREMENTS = """
        SELECT k.scope, k.bucket, k.add, k.expires_at
        FROM unnest(
            CAST(:count_owners AS text[]), CAST(:count_scopes AS text[]),
            CAST(:count_buckets AS bigint[]), CAST(:count_adds AS bigint[]),
            CAST(:count_seen_adds AS bigint[]), CAST(:count_expires AS timestamptz[])
        ) AS k(message_id, scope, bucket, add, seen_add, expires_at)
        JOIN saved s ON s.message_id = k.message_id"""
_SAVE_REPLIES_COUNTED = _SAVE_REPLIES_COUNTED_TEMPLATE.format(
    replies=_REPLIES, upsert=UPSERT.format(increments=_REPLY_INCREMENTS)
)
# From MediaResolved: the same row `admit` writes, with the transcript; an existing row keeps
# a non-empty content (admit and this may run in either order, live or in a replay).
_TRANSCRIBE = """
    INSERT INTO {table} AS c
        (message_id, user_id, phone_number, content, sender, source, channel, created_at)
    VALUES (:message_id, :user_id, :phone, :content, 'user', :source, :channel, :created_at)
    ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender
    DO UPDATE SET content = EXCLUDED.content WHERE c.content = ''
    """
_STORED_REPLIES = """
    SELECT message_id, content, config_source, model, prompt_tokens, completion_tokens,
           created_at
    FROM {table}
    WHERE sender = 'bot' AND message_id = ANY(CAST(:message_ids AS text[]))
    """


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
        self._admit = text(_ADMIT.format(table=table))
        self._admit_counted = text(_ADMIT_COUNTED.format(table=table))
        self._save_replies = text(_SAVE_REPLIES.format(table=table))
        self._save_replies_counted = text(_SAVE_REPLIES_COUNTED.format(table=table))
        self._expiry = Expiry()
        self._stored_replies = text(_STORED_REPLIES.format(table=table))
        self._transcribe = text(_TRANSCRIBE.format(table=table))
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
