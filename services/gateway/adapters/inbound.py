"""Accepting inbound messages exactly once: rows and events committed together, published
after the commit before the caller answers. Concurrent provider deliveries are written
together (group commit): their messages and status receipts in one statement, or, when a
business echo is among them, in one outbox unit with the echoes and their owner changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter
from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from services.gateway.adapters.api_outcomes import ApiOutcomes
from services.gateway.adapters.echoes import EchoRecorder, count_echoes
from services.gateway.adapters.inbound_rows import (
    ProviderAcceptance,
    ProviderDelivery,
    insert_new,
    new_events,
)
from services.gateway.adapters.inbound_statement import accept_rows
from services.gateway.adapters.tables import inbound_messages as inbound
from services.gateway.domain.twilio_status import STATUSES as TWILIO_STATUSES
from shared.batching import GroupCommitter
from shared.contracts.messages import MessageOutcome, MessageReceived
from shared.contracts.topics import MESSAGES_RECEIVED
from shared.db import Statements
from shared.outbox import Outbox, OutboxUnit

__all__ = ["Acceptance", "Inbound", "InboundStore", "ProviderAcceptance", "ProviderDelivery"]

outcome_adapter: TypeAdapter[MessageOutcome] = TypeAdapter(MessageOutcome)
# Counted after the duplicate filter and the commit: a redelivered status counts once.
DELIVERY_STATUSES = Counter(
    "gateway_delivery_statuses_total",
    "Provider status callbacks of our replies, new ones only, by status and failure reason",
    ["channel", "status", "reason"],
)
# A signed body may carry any short status: the label keeps to the documented ones.
STATUS_LABELS = TWILIO_STATUSES | {"deleted", "warning"}


@dataclass(frozen=True)
class Acceptance:
    new: bool
    attempt: int
    fingerprint: str
    outcome: MessageOutcome | None


class Inbound(Protocol):
    """What the routes need of the inbound store (a fake in the unit tests)."""

    async def accept(self, event: MessageReceived, fingerprint: str) -> Acceptance: ...

    async def accept_provider_delivery(self, delivery: ProviderDelivery) -> ProviderAcceptance:
        """Committed and published (or left to the relay) before it returns."""

    async def record_outcome(self, outcome: MessageOutcome) -> None:
        """An API message's outcome kept on its row (raises `StoreUnavailable`)."""


class InboundStore:
    """When a method returns, its events are committed and published (or, with the broker
    away past the outbox's bound, left to its relay), so a provider's next delivery cannot
    overtake them."""

    def __init__(self, outbox: Outbox, echoes: EchoRecorder, db: Statements) -> None:
        self._outbox = outbox
        self._echoes = echoes
        self._db = db
        self._outcomes = ApiOutcomes(db)
        # One provider delivery, committed before this returns: new messages are recorded
        # and staged, messages seen before are acknowledged and dropped, receipts are stored
        # and staged, business echoes recorded with their owner change. Concurrent
        # deliveries are written together (group commit: the batch writer below).
        self.accept_provider_delivery = GroupCommitter(self._accept_provider_batch).submit

    async def accept(self, event: MessageReceived, fingerprint: str) -> Acceptance:
        """Record the message and stage its event, or report what an earlier delivery did.

        A duplicate whose earlier outcome was a retryable failure is staged again with the
        next attempt number; any other duplicate is not published again.
        """
        async with self._outbox.unit() as unit:
            inserted = (
                await unit.session.execute(
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
                _stage_received(unit, event)
                return Acceptance(True, 1, fingerprint, None)
            return await _accept_again(unit, event, fingerprint)

    async def record_outcome(self, outcome: MessageOutcome) -> None:
        """Kept on the row before the caller is answered, so a retry that follows at once
        finds it; the outcomes consumer records it too, perhaps later (the same write)."""
        await self._outcomes.record([outcome])

    async def _accept_provider_batch(
        self, batch: Sequence[ProviderDelivery]
    ) -> list[ProviderAcceptance]:
        if any(delivery.echoes for delivery in batch):
            acceptances = await self._accept_with_echoes(batch)
        else:
            acceptances, staged = await accept_rows(self._db, batch)
            await self._outbox.deliver(staged)
        for acceptance in acceptances:
            for status in acceptance.statuses:
                label = status.status if status.status in STATUS_LABELS else "other"
                DELIVERY_STATUSES.labels(status.channel.value, label, status.reason or "none").inc()
        return acceptances

    async def _accept_with_echoes(
        self, batch: Sequence[ProviderDelivery]
    ) -> list[ProviderAcceptance]:
        async with self._outbox.unit() as unit:
            new_messages, new_receipts = await insert_new(unit.session, batch)
            acceptances, entries = new_events(batch, new_messages, new_receipts)
            unit.entries.extend(entries)
            echoes = [echo for delivery in batch for echo in delivery.echoes]
            echo_outcomes = await self._echoes.stage(unit, echoes)
        count_echoes(echo_outcomes)
        return acceptances


async def _accept_again(unit: OutboxUnit, event: MessageReceived, fingerprint: str) -> Acceptance:
    """A message id seen before: stage it again only after a retryable failure of its
    latest attempt, with the same fingerprint."""
    session = unit.session
    row = (
        (
            await session.execute(
                select(inbound).where(inbound.c.message_id == event.message_id).with_for_update()
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
        return Acceptance(False, row["attempt"], row["fingerprint"], outcome)
    attempt = row["attempt"] + 1
    await session.execute(
        update(inbound)
        .where(inbound.c.message_id == event.message_id)
        .values(attempt=attempt, updated_at=func.now())
    )
    _stage_received(unit, event.model_copy(update={"attempt": attempt}))
    return Acceptance(False, attempt, fingerprint, None)


def _stage_received(unit: OutboxUnit, event: MessageReceived) -> None:
    unit.stage(MESSAGES_RECEIVED.name, event.conversation_key, event)
