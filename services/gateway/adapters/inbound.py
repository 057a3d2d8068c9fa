"""Accepting inbound messages exactly once: row + event in one transaction (outbox)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.adapters.tables import inbound_messages as inbound
from shared.contracts.messages import MessageOutcome, MessageReceived
from shared.contracts.topics import MESSAGES_RECEIVED
from shared.outbox import Outbox

outcome_adapter: TypeAdapter[MessageOutcome] = TypeAdapter(MessageOutcome)


@dataclass(frozen=True)
class Acceptance:
    new: bool
    attempt: int
    fingerprint: str
    outcome: MessageOutcome | None
    staged: list[int]


class InboundStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox) -> None:
        self._sessions = sessions
        self._outbox = outbox

    async def accept(self, event: MessageReceived, fingerprint: str) -> Acceptance:
        """Record the message and stage its event, or report what an earlier delivery did.

        A duplicate whose earlier outcome was a retryable failure is staged again with the
        next attempt number; any other duplicate is not published again.
        """
        async with self._sessions() as session, session.begin():
            inserted = (
                await session.execute(
                    insert(inbound)
                    .values(
                        message_id=event.message_id,
                        channel=event.channel.value,
                        fingerprint=fingerprint,
                    )
                    .on_conflict_do_nothing(index_elements=[inbound.c.message_id])
                    .returning(inbound.c.message_id)
                )
            ).first()
            if inserted is not None:
                staged = await self._stage(session, event)
                return Acceptance(True, 1, fingerprint, None, [staged])
            row = (
                (
                    await session.execute(
                        select(inbound)
                        .where(inbound.c.message_id == event.message_id)
                        .with_for_update()
                    )
                )
                .mappings()
                .one()
            )
            outcome = outcome_adapter.validate_python(row["outcome"]) if row["outcome"] else None
            retry = (
                outcome is not None
                and row["fingerprint"] == fingerprint
                and getattr(outcome, "retryable", False)
                and row["outcome_attempt"] == row["attempt"]
            )
            if not retry:
                return Acceptance(False, row["attempt"], row["fingerprint"], outcome, [])
            attempt = row["attempt"] + 1
            await session.execute(
                update(inbound)
                .where(inbound.c.message_id == event.message_id)
                .values(attempt=attempt, updated_at=func.now())
            )
            staged = await self._stage(session, event.model_copy(update={"attempt": attempt}))
            return Acceptance(False, attempt, fingerprint, None, [staged])

    async def _stage(self, session: AsyncSession, event: MessageReceived) -> int:
        return await self._outbox.add(
            session, MESSAGES_RECEIVED.name, event.conversation_key, event
        )

    async def record_outcome(self, outcome: MessageOutcome) -> None:
        """Keep the latest attempt's outcome, so a retried request can be answered from it."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(inbound)
                .where(
                    inbound.c.message_id == outcome.message_id,
                    (inbound.c.outcome_attempt.is_(None))
                    | (inbound.c.outcome_attempt <= outcome.attempt),
                )
                .values(
                    outcome=outcome.model_dump(mode="json"),
                    outcome_attempt=outcome.attempt,
                    user_id=outcome.user_id,
                    updated_at=func.now(),
                )
            )
