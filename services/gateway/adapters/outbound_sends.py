"""Intent and outcome of each outbound reply send, by message id (one send per message).

A sender claims a batch of messages with a short lease (one statement), renews the lease
while its sends run (a heartbeat), records every part of a multi-part reply as soon as the
provider accepted it, and records the batch's outcomes (sent, failed, or the lease given
back for a later try) in one statement. A redelivered outcome finds the row and sends
nothing again. The one window left: the provider accepted a part and the process died
before that was recorded; that part is sent again after the restart.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Interval, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from services.gateway.adapters.store import unavailable_on_db_errors
from services.gateway.adapters.tables import outbound_deliveries as sends
from shared.db import Statements

SENDING, SENT, FAILED = "sending", "sent", "failed"
FINAL = (SENT, FAILED)


@dataclass(frozen=True)
class SendIntent:
    message_id: str
    channel: str
    parts_total: int


@dataclass(frozen=True)
class Claim:
    """A message this worker may send now: from part `parts_sent` on."""

    parts_sent: int
    provider_message_ids: list[str]
    attempts: int


@dataclass(frozen=True)
class Claims:
    taken: dict[str, Claim]
    finished: frozenset[str]  # sent or failed for good: never again
    busy: frozenset[str]  # another worker's lease is live (a rebalance overlap)


@dataclass(frozen=True)
class SendRecord:
    """What became of a claimed message; status `sending` gives the lease back."""

    message_id: str
    channel: str
    parts_total: int
    status: str
    parts_sent: int
    provider_message_ids: list[str]
    error: str | None = None


class SendStore(Protocol):
    """Raises `StoreUnavailable` when the database does not answer."""

    async def claim(self, intents: Sequence[SendIntent]) -> Claims: ...

    async def renew(self, message_ids: Collection[str]) -> None: ...

    async def part_sent(
        self, message_id: str, parts_sent: int, provider_message_ids: list[str]
    ) -> None: ...

    async def record(self, records: Sequence[SendRecord]) -> None: ...


# Built once: the hot path pays for parameters only. The lease is measured on the
# database's clock, so replicas with skewed clocks agree on when it runs out.
_lease_until = func.now() + bindparam("lease", type_=Interval())
_insert = insert(sends)
_CLAIM = (
    _insert.values(status=SENDING, attempts=1, lease_until=_lease_until)
    .on_conflict_do_update(
        index_elements=[sends.c.message_id],
        set_={
            "attempts": sends.c.attempts + 1,
            "lease_until": _insert.excluded.lease_until,
            "updated_at": func.now(),
        },
        where=(sends.c.status == SENDING)
        & or_(sends.c.lease_until.is_(None), sends.c.lease_until <= func.now()),
    )
    .returning(
        sends.c.message_id, sends.c.parts_sent, sends.c.provider_message_ids, sends.c.attempts
    )
)
_STATUS = select(sends.c.message_id, sends.c.status).where(
    sends.c.message_id.in_(bindparam("ids", expanding=True))
)
_RENEW = (
    update(sends)
    .where(sends.c.message_id.in_(bindparam("ids", expanding=True)), sends.c.status == SENDING)
    .values(lease_until=_lease_until, updated_at=func.now())
)
_PART_SENT = (
    update(sends)
    .where(sends.c.message_id == bindparam("b_message_id"), sends.c.status == SENDING)
    .values(
        parts_sent=bindparam("b_parts_sent"),
        provider_message_ids=bindparam("b_ids"),
        lease_until=_lease_until,
        updated_at=func.now(),
    )
)
# An upsert, not an update: should the claim's row have been lost (a database that
# acknowledges commits before they are durable, then crashes), the outcome still lands
# and a redelivery finds the reply sent.
_RECORD = _insert.values(attempts=1, lease_until=None).on_conflict_do_update(
    index_elements=[sends.c.message_id],
    set_={
        "status": _insert.excluded.status,
        "parts_sent": _insert.excluded.parts_sent,
        "provider_message_ids": _insert.excluded.provider_message_ids,
        "last_error": _insert.excluded.last_error,
        "lease_until": None,
        "updated_at": func.now(),
    },
    where=sends.c.status == SENDING,
)


class OutboundSends:
    def __init__(self, db: Statements, lease: timedelta) -> None:
        self._db = db
        self._lease = lease

    async def claim(self, intents: Sequence[SendIntent]) -> Claims:
        """One statement for the batch: insert each intent with a lease, or take the lease
        of an unfinished row whose lease ran out (a crashed worker's). A second read, only
        for what was not taken, tells finished from busy."""
        if not intents:
            return Claims({}, frozenset(), frozenset())
        rows = [
            {
                "message_id": intent.message_id,
                "channel": intent.channel,
                "parts_total": intent.parts_total,
                "lease": self._lease,
            }
            for intent in sorted(intents, key=lambda i: i.message_id)  # no deadlock
        ]
        with unavailable_on_db_errors():
            result = await self._db.execute(_CLAIM, rows)
            taken = {
                row.message_id: Claim(row.parts_sent, list(row.provider_message_ids), row.attempts)
                for row in result
            }
            rest = [intent.message_id for intent in intents if intent.message_id not in taken]
            statuses = {}
            if rest:
                statuses = {
                    row.message_id: row.status
                    for row in await self._db.execute(_STATUS, {"ids": rest})
                }
        finished = frozenset(m for m in rest if statuses.get(m) in FINAL)
        return Claims(taken, finished, frozenset(rest) - finished)

    async def renew(self, message_ids: Collection[str]) -> None:
        if not message_ids:
            return
        with unavailable_on_db_errors():
            await self._db.execute(_RENEW, {"ids": sorted(message_ids), "lease": self._lease})

    async def part_sent(
        self, message_id: str, parts_sent: int, provider_message_ids: list[str]
    ) -> None:
        with unavailable_on_db_errors():
            await self._db.execute(
                _PART_SENT,
                {
                    "b_message_id": message_id,
                    "b_parts_sent": parts_sent,
                    "b_ids": provider_message_ids,
                    "lease": self._lease,
                },
            )

    async def record(self, records: Sequence[SendRecord]) -> None:
        """The batch's outcomes in one statement (a list of parameter sets)."""
        if not records:
            return
        with unavailable_on_db_errors():
            await self._db.execute(
                _RECORD,
                [
                    {
                        "message_id": r.message_id,
                        "channel": r.channel,
                        "parts_total": r.parts_total,
                        "status": r.status,
                        "parts_sent": r.parts_sent,
                        "provider_message_ids": r.provider_message_ids,
                        "last_error": r.error,
                    }
                    for r in sorted(records, key=lambda r: r.message_id)
                ],
            )
