"""The latest outcome of each chatbot-API message, kept on its inbound row so a retried
request is answered from it (`InboundStore.accept` reads it back)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import bindparam, func, or_, update

from services.gateway.adapters.store import unavailable_on_db_errors
from services.gateway.adapters.tables import inbound_messages as inbound
from shared.contracts.messages import MessageOutcome
from shared.db import Statements


class OutcomeStore(Protocol):
    """Raises `StoreUnavailable` when the database does not answer."""

    async def record(self, outcomes: Sequence[MessageOutcome]) -> None: ...


# An older attempt's outcome arriving late never replaces a newer one.
_RECORD = (
    update(inbound)
    .where(
        inbound.c.message_id == bindparam("b_message_id"),
        or_(
            inbound.c.outcome_attempt.is_(None),
            inbound.c.outcome_attempt <= bindparam("b_attempt"),
        ),
    )
    .values(
        outcome=bindparam("b_outcome"),
        outcome_attempt=bindparam("b_attempt"),
        user_id=bindparam("b_user_id"),
        updated_at=func.now(),
    )
)


class ApiOutcomes:
    def __init__(self, db: Statements) -> None:
        self._db = db

    async def record(self, outcomes: Sequence[MessageOutcome]) -> None:
        """One statement for the batch (a list of parameter sets)."""
        if not outcomes:
            return
        with unavailable_on_db_errors():
            await self._db.execute(
                _RECORD,
                [
                    {
                        "b_message_id": outcome.message_id,
                        "b_attempt": outcome.attempt,
                        "b_outcome": outcome.model_dump(mode="json"),
                        "b_user_id": outcome.user_id,
                    }
                    for outcome in sorted(outcomes, key=lambda o: o.message_id)
                ],
            )
