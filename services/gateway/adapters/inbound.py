"""Accepting inbound messages exactly once: row + event in one transaction (outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.gateway.adapters.tables import delivery_receipts
from services.gateway.adapters.tables import inbound_messages as inbound
from shared.batching import GroupCommitter
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel, MessageOutcome, MessageReceived
from shared.contracts.topics import MESSAGE_DELIVERIES, MESSAGES_RECEIVED
from shared.db import Statements
from shared.outbox import Outbox, OutboxEntry, StagedEvent, trace_carrier

outcome_adapter: TypeAdapter[MessageOutcome] = TypeAdapter(MessageOutcome)


@dataclass(frozen=True)
class ProviderDelivery:
    answered: list[MessageReceived]
    recorded: list[tuple[str, Channel, str]]
    receipts: list[DeliveryStatusReported]
    carrier: dict[str, str]  # the webhook request's trace context


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
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        statements: Statements,
    ) -> None:
        self._sessions = sessions
        self._statements = statements  # single statements: autocommit
        self._outbox = outbox
        self._provider_batches: GroupCommitter[ProviderDelivery, ProviderAcceptance] = (
            GroupCommitter(self._accept_provider_batch)
        )

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
        """One provider delivery, committed before this returns: new messages are recorded
        and staged, messages seen before are acknowledged and dropped, receipts are stored
        and staged. Concurrent deliveries share one transaction (group commit).

        `recorded` are (message id, channel, type) of messages kept but not answered.
        """
        delivery = ProviderDelivery(answered, recorded, receipts, trace_carrier())
        return await self._provider_batches.submit(delivery)

    async def _accept_provider_batch(
        self, batch: Sequence[ProviderDelivery]
    ) -> list[ProviderAcceptance]:
        messages = [
            {
                "message_id": event.message_id,
                "channel": event.channel.value,
                "kind": event.message_type,
                "answered": True,
                "fingerprint": "provider",
            }
            for delivery in batch
            for event in delivery.answered
        ] + [
            {
                "message_id": message_id,
                "channel": channel.value,
                "kind": kind,
                "answered": False,
                "fingerprint": "provider",
            }
            for delivery in batch
            for message_id, channel, kind in delivery.recorded
        ]
        receipts = [
            {
                "provider_message_id": receipt.provider_message_id,
                "status": receipt.status,
                "channel": receipt.channel.value,
                "recipient": receipt.recipient,
                "provider_timestamp": receipt.timestamp,
                "errors": receipt.errors,
            }
            for delivery in batch
            for receipt in delivery.receipts
        ]
        async with self._sessions() as session, session.begin():
            new_messages: set[str] = set()
            if messages:
                new_messages = set(
                    (
                        await session.execute(
                            insert(inbound)
                            .values(messages)
                            .on_conflict_do_nothing(index_elements=[inbound.c.message_id])
                            .returning(inbound.c.message_id)
                        )
                    ).scalars()
                )
            new_receipts: set[tuple[str, str]] = set()
            if receipts:
                new_receipts = {
                    (row.provider_message_id, row.status)
                    for row in await session.execute(
                        insert(delivery_receipts)
                        .values(receipts)
                        .on_conflict_do_nothing()
                        .returning(
                            delivery_receipts.c.provider_message_id, delivery_receipts.c.status
                        )
                    )
                }
            # A message (or receipt) seen twice in one batch is new for its first delivery only.
            entries: list[OutboxEntry] = []
            owners: list[int] = []
            duplicates = [0] * len(batch)
            for index, delivery in enumerate(batch):
                for event in delivery.answered:
                    if event.message_id in new_messages:
                        new_messages.discard(event.message_id)
                        entries.append(
                            OutboxEntry(
                                MESSAGES_RECEIVED.name,
                                event.conversation_key,
                                event,
                                delivery.carrier,
                            )
                        )
                        owners.append(index)
                    else:
                        duplicates[index] += 1
                for message_id, _, _ in delivery.recorded:
                    if message_id in new_messages:
                        new_messages.discard(message_id)
                    else:
                        duplicates[index] += 1
                for receipt in delivery.receipts:
                    key = (receipt.provider_message_id, receipt.status)
                    if key in new_receipts:
                        new_receipts.discard(key)
                        entries.append(
                            OutboxEntry(
                                MESSAGE_DELIVERIES.name,
                                receipt.provider_message_id,
                                receipt,
                                delivery.carrier,
                            )
                        )
                        owners.append(index)
            staged = await self._outbox.add_many(session, entries)
        per_delivery: list[list[StagedEvent]] = [[] for _ in batch]
        for owner, staged_event in zip(owners, staged, strict=True):
            per_delivery[owner].append(staged_event)
        return [
            ProviderAcceptance(staged=events, duplicates=count)
            for events, count in zip(per_delivery, duplicates, strict=True)
        ]

    async def _stage(self, session: AsyncSession, event: MessageReceived) -> StagedEvent:
        return await self._outbox.add(
            session, MESSAGES_RECEIVED.name, event.conversation_key, event
        )
