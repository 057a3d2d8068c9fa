"""Each entity's newest change is its last record on the compacted config topic.

Compaction keeps only a key's last record, and a view rebuilt from the topic starts from
what is left. Publishes finish in any order (two replicas, the relay), so a change can
reach Kafka after a newer one of the same entity. After every publish the outbox is asked
whether a newer change of the same entity is committed; if so, it is published again,
after ours. Why that suffices: whoever published a key's last record checked afterwards,
and either saw the newest committed change (and published it again) or the newer change
committed after the check, so its own publish comes later still.

Outbox ids of one entity follow its versions (the outbox unit writes its rows in the
transaction that drew the version, under the version's row lock), so "newer" is "a higher
outbox id for the same key".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.logging import get_logger
from shared.outbox import Outbox, StagedEvent

log = get_logger(__name__)


class NewestLast:
    """The outbox's `after_publish` hook. Each check runs in the background, after the
    publish it follows: a write's answer does not wait for it, and the bounded wait of the
    write's outbox unit can never cut it short. `drain` waits for the running checks."""

    def __init__(self, table: Table, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._table = table
        self._sessions = sessions
        self._checks: set[asyncio.Task[None]] = set()

    async def __call__(self, outbox: Outbox, published: Sequence[StagedEvent]) -> None:
        check = asyncio.create_task(self._check(outbox, list(published)), name="newest-last")
        self._checks.add(check)
        check.add_done_callback(self._checks.discard)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Until no check runs (a check's re-publish starts another), bounded."""
        deadline = time.monotonic() + timeout_s
        while self._checks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("superseding checks still running", checks=len(self._checks))
                return
            await asyncio.wait(set(self._checks), timeout=remaining)

    async def _check(self, outbox: Outbox, published: Sequence[StagedEvent]) -> None:
        highest: dict[str, int] = {}
        for event in published:
            highest[event.key] = max(event.id, highest.get(event.key, 0))
        try:
            newer = await _newest_rows(self._table, self._sessions, highest)
            if newer:
                log.info(
                    "config change superseded while publishing; newest sent again", count=len(newer)
                )
                await outbox.publish(newer)  # and checked again in turn
        except Exception as exc:
            # Views still end right (versions); only a rebuild after compaction could
            # start one change behind, until the entity's next change.
            log.warning("could not check for superseding config changes", error=type(exc).__name__)


def newest_last(table: Table, sessions: async_sessionmaker[AsyncSession]) -> NewestLast:
    return NewestLast(table, sessions)


async def _newest_rows(
    table: Table, sessions: async_sessionmaker[AsyncSession], highest: dict[str, int]
) -> list[StagedEvent]:
    query = (
        select(table.c.id, table.c.topic, table.c.key, table.c.payload, table.c.trace_carrier)
        .where(table.c.key.in_(list(highest)))
        .ext(distinct_on(table.c.key))
        .order_by(table.c.key, table.c.id.desc())
    )
    async with sessions() as session, session.begin():
        rows = (await session.execute(query)).all()
    return [
        StagedEvent(row.id, row.topic, row.key, row.payload, row.trace_carrier)
        for row in rows
        if row.id > highest[row.key]
    ]
