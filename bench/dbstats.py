"""Database statements per message, counted by PostgreSQL itself (pg_stat_statements).

Read and reset as the superuser over the server's Unix socket. Statements of the `app`
role only (the services and the seed baseline); the bench's own superuser queries are
excluded. The outbox relays' periodic scan runs once a second whatever the load, so it is
reported apart, not per message. SQLAlchemy's pool pre-ping on asyncpg sends `BEGIN`, an
empty statement `;` and `ROLLBACK` per connection checkout; PostgreSQL does not record the
empty statement, so pre-pings show up here as the BEGIN/ROLLBACK pairs without a write.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

CONFIG_TABLES = frozenset(
    {
        "user_groq_config",
        "user_whatsapp_config",
        "user_twilio_config",
        "webhook_api_links",
        "system_groq_config",
        "system_settings",
    }
)
_TABLES = re.compile(r'\b(?:from|into|update|join)\s+"?(?:[a-z_]+"?\.)?"?([a-z_]+)"?', re.I)


def kind_of(query: str) -> str:
    """read | write | begin | commit | rollback | other."""
    word = query.lstrip(" (\n").split(None, 1)[0].lower() if query.strip(" ;\n") else ""
    if word in ("select", "with"):
        return "read"
    if word in ("insert", "update", "delete"):
        return "write"
    if word in ("begin", "start"):
        return "begin"
    if word in ("commit", "rollback"):
        return word
    return "other"


def tables_of(query: str) -> set[str]:
    return {name.lower() for name in _TABLES.findall(query)}


def is_background(query: str) -> bool:
    text = " ".join(query.lower().split())
    return "published_at is null" in text and "created_at <" in text


@dataclass
class StatementCounts:
    messages: int
    per_message: dict[str, float]
    by_table: dict[str, dict[str, float]]
    background_calls: int
    top: list[dict[str, Any]] = field(default_factory=list)
    available: bool = True
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class StatementStats:
    def __init__(self, connect: dict[str, Any]) -> None:
        self._connect = connect

    async def _conn(self) -> asyncpg.Connection:
        return await asyncpg.connect(**self._connect)

    async def available(self) -> bool:
        conn = await self._conn()
        try:
            found = await conn.fetchval(
                "select 1 from pg_extension where extname = 'pg_stat_statements'"
            )
        finally:
            await conn.close()
        return bool(found)

    async def reset(self) -> None:
        conn = await self._conn()
        try:
            await conn.execute("select pg_stat_statements_reset()")
        finally:
            await conn.close()

    async def rows(self) -> list[tuple[str, int]]:
        conn = await self._conn()
        try:
            records = await conn.fetch(
                "select s.query, s.calls from pg_stat_statements s"
                " join pg_roles r on r.oid = s.userid"
                " join pg_database d on d.oid = s.dbid"
                " where r.rolname = 'app' and d.datname = 'app'"
            )
        finally:
            await conn.close()
        return [(str(r["query"]), int(r["calls"])) for r in records]

    async def count(self, messages: int) -> StatementCounts:
        return summarize(await self.rows(), messages)


def summarize(rows: list[tuple[str, int]], messages: int) -> StatementCounts:
    kinds: Counter[str] = Counter()
    tables: dict[str, Counter[str]] = {}
    background = 0
    top: list[dict[str, Any]] = []
    for query, calls in rows:
        if is_background(query):
            background += calls
            continue
        kind = kind_of(query)
        kinds[kind] += calls
        touched = tables_of(query)
        if kind == "read" and touched & CONFIG_TABLES:
            kinds["config_read"] += calls
        for table in touched:
            tables.setdefault(table, Counter())[kind] += calls
        top.append({"calls": calls, "kind": kind, "query": " ".join(query.split())[:160]})
    per = max(messages, 1)
    top.sort(key=lambda item: -int(item["calls"]))
    for item in top:
        item["per_message"] = round(int(item["calls"]) / per, 2)
    every = ("read", "write", "begin", "commit", "rollback", "other")
    per_message = {k: round(kinds[k] / per, 2) for k in every}
    per_message["config_read"] = round(kinds["config_read"] / per, 2)
    per_message["total"] = round(sum(kinds[k] for k in every) / per, 2)
    return StatementCounts(
        messages=messages,
        per_message=per_message,
        by_table={
            table: {kind: round(calls / per, 2) for kind, calls in counter.items()}
            for table, counter in sorted(tables.items())
        },
        background_calls=background,
        top=top[:25],
    )
