"""Limit counters (issue 16) in the responder's own table: every replica adds to the same
rows, so a count is exact across replicas and survives a restart or a rebalance.

A message's counters are a write that returns the counts (never a separate read). On the
per-message path that write is a CTE of the statements that store the message and its
reply (adapters/conversations.py, which use `UPSERT` and the helpers here); a turn's
counters are their own statement (`SqlLimitCounters`). Either way the messages of a moment
share one statement (group commit), its increments summed per row by
`INSERT … ON CONFLICT DO UPDATE … RETURNING`; each message then gets the count as it stood
just after its own increment (the total minus what later messages of the batch added), so
the 61st message of a minute sees 61 even in a batch of a hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import text

from services.responder.domain.limits import Increment
from shared.batching import GroupCommitter
from shared.db import Statements

# `marked`: the marks (a turn's message ids) this statement stored, i.e. seen for the first
# time (a mark is a row of the same table, bucket 0, kept as long as a day's tokens); an
# increment with a mark adds only if its mark is among them.
_ADD = text(
    """
    WITH i AS (
        SELECT * FROM unnest(
            CAST(:scopes AS text[]), CAST(:buckets AS bigint[]), CAST(:adds AS bigint[]),
            CAST(:expires AS timestamptz[]), CAST(:marks AS text[])
        ) AS i(scope, bucket, add, expires_at, mark)
    ),
    marked AS (
        INSERT INTO responder_limit_counters AS c (scope, bucket, count, expires_at)
        SELECT mark, 0, 1, max(expires_at) + interval '2 days' FROM i
        WHERE mark IS NOT NULL GROUP BY mark ORDER BY mark
        ON CONFLICT (scope, bucket) DO NOTHING
        RETURNING scope
    ),
    counted AS (
        INSERT INTO responder_limit_counters AS c (scope, bucket, count, expires_at)
        SELECT scope, bucket,
               sum(CASE WHEN mark IS NULL OR mark IN (SELECT scope FROM marked)
                   THEN add ELSE 0 END),
               max(expires_at)
        FROM i
        GROUP BY scope, bucket
        ORDER BY scope, bucket
        ON CONFLICT (scope, bucket) DO UPDATE SET count = c.count + EXCLUDED.count
        RETURNING scope, bucket, count
    )
    SELECT 'count' AS kind, scope, bucket, count FROM counted
    UNION ALL
    SELECT 'marked', scope, 0, 0 FROM marked
    """
)
# The upsert as a CTE body: `{increments}` is a SELECT of (scope, bucket, add, expires_at).
UPSERT = """
    INSERT INTO responder_limit_counters AS c (scope, bucket, count, expires_at)
    SELECT scope, bucket, sum(add), max(expires_at) FROM ({increments}) AS k
    GROUP BY scope, bucket
    ORDER BY scope, bucket
    ON CONFLICT (scope, bucket) DO UPDATE SET count = c.count + EXCLUDED.count
    RETURNING scope, bucket, count
"""
_EXPIRE = text("DELETE FROM responder_limit_counters WHERE expires_at < now()")
_EXPIRE_EVERY = 500  # statements between two clean-ups of past buckets


class Expiry:
    """Past buckets are deleted once every `_EXPIRE_EVERY` counting statements."""

    def __init__(self) -> None:
        self._statements = 0

    async def counted(self, db: Statements) -> None:
        self._statements += 1
        if self._statements % _EXPIRE_EVERY == 0:
            await db.execute(_EXPIRE, {})


def increment_columns(owners: Sequence[Any], increments: Sequence[Increment]) -> dict[str, Any]:
    """The `count_*` arrays of a counting CTE; `owners[i]` says whose increment `i` is."""
    return {
        "count_owners": list(owners),
        "count_scopes": [i.scope for i in increments],
        "count_buckets": [i.bucket for i in increments],
        "count_adds": [i.add for i in increments],
        "count_seen_adds": [i.add_if_seen for i in increments],
        "count_expires": [i.expires_at for i in increments],
    }


class LimitCounters(Protocol):
    async def add(self, increments: Sequence[Increment]) -> list[int]:
        """Apply the increments; each counter's value just after its own increment."""
        ...


class SqlLimitCounters:
    def __init__(self, db: Statements) -> None:
        self._db = db
        self._batches = GroupCommitter(self._add_all)
        self._expiry = Expiry()

    async def add(self, increments: Sequence[Increment]) -> list[int]:
        return await self._batches.submit(tuple(increments))

    async def _add_all(self, requests: Sequence[tuple[Increment, ...]]) -> list[list[int]]:
        flat = [increment for request in requests for increment in request]
        rows = await self._db.execute(
            _ADD,
            {
                "scopes": [i.scope for i in flat],
                "buckets": [i.bucket for i in flat],
                "adds": [i.add for i in flat],
                "expires": [i.expires_at for i in flat],
                "marks": [i.once for i in flat],
            },
        )
        totals: dict[tuple[str, int], int] = {}
        marked: set[str] = set()
        for row in rows:
            if row.kind == "marked":
                marked.add(row.scope)
            else:
                totals[(row.scope, row.bucket)] = int(row._mapping["count"])
        await self._expiry.counted(self._db)
        added = [
            [i if i.once is None or i.once in marked else replace(i, add=0) for i in request]
            for request in requests
        ]
        return counts_after_each(added, totals)


def counts_after_each(
    requests: Sequence[Sequence[Increment]], totals: dict[tuple[str, int], int]
) -> list[list[int]]:
    """Walk the batch backwards: a request's count is the row's total less what the
    requests after it added."""
    later: dict[tuple[str, int], int] = {}
    results: list[list[int]] = []
    for request in reversed(requests):
        counts = []
        for increment in request:
            key = (increment.scope, increment.bucket)
            counts.append(totals[key] - later.get(key, 0))
        for increment in request:
            key = (increment.scope, increment.bucket)
            later[key] = later.get(key, 0) + increment.add
        results.append(counts)
    results.reverse()
    return results
