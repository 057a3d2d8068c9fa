"""Accepting inbound messages exactly once: row + event in one transaction (outbox)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.adapters.tables import delivery_receipts
from services.gateway.adapters.tables import inbound_messages as inbound
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel, MessageOutcome, MessageReceived
from shared.contracts.topics import MESSAGE_DELIVERIES, MESSAGES_RECEIVED
from shared.outbox import Outbox, StagedEvent

outcome_adapter: TypeAdapter[MessageOutcome] = TypeAdapter(MessageOutcome)


@dataclass(frozen=True)
class ProviderAcceptance:
    staged: list[StagedEvent]
    duplicates: int


@dataclass(frozen=True)
class Acceptance:
    new: bool
    attempt: int
    fingerprint: str
    outcome: MessageOutcome | None
    staged: list[StagedEvent]


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

    async def accept_provider_delivery(
        self,
        answered: list[MessageReceived],
        recorded: list[tuple[str, Channel, str]],
        receipts: list[DeliveryStatusReported],
    ) -> ProviderAcceptance:
        """One provider delivery in one transaction: new messages are recorded and staged,
        messages seen before are acknowledged and dropped, receipts are stored and staged.

        `recorded` are (message id, channel, type) of messages kept but not answered.
        """
        staged: list[StagedEvent] = []
        duplicates = 0
        async with self._sessions() as session, session.begin():
            for event in answered:
                if await self._insert(
                    session, event.message_id, event.channel, event.message_type, True
                ):
                    staged.append(await self._stage(session, event))
                else:
                    duplicates += 1
            for message_id, channel, kind in recorded:
                if not await self._insert(session, message_id, channel, kind, False):
                    duplicates += 1
            for receipt in receipts:
                inserted = (
                    await session.execute(
                        insert(delivery_receipts)
                        .values(
                            provider_message_id=receipt.provider_message_id,
                            status=receipt.status,
                            channel=receipt.channel.value,
                            recipient=receipt.recipient,
                            provider_timestamp=receipt.timestamp,
                            errors=receipt.errors,
                        )
                        .on_conflict_do_nothing()
                        .returning(delivery_receipts.c.status)
                    )
                ).first()
                if inserted is not None:
                    staged.append(
                        await self._outbox.add(
                            session, MESSAGE_DELIVERIES.name, receipt.provider_message_id, receipt
                        )
                    )
        return ProviderAcceptance(staged=staged, duplicates=duplicates)

    async def _insert(
        self, session: AsyncSession, message_id: str, channel: Channel, kind: str, answered: bool
    ) -> bool:
        inserted = (
            await session.execute(
                insert(inbound)
                .values(
                    message_id=message_id,
                    channel=channel.value,
                    kind=kind,
                    answered=answered,
                    fingerprint="provider",
                )
                .on_conflict_do_nothing(index_elements=[inbound.c.message_id])
                .returning(inbound.c.message_id)
            )
        ).first()
        return inserted is not None

    async def _stage(self, session: AsyncSession, event: MessageReceived) -> StagedEvent:
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
