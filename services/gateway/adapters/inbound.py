"""Accepting inbound messages exactly once: row + event in one outbox unit (one transaction,
published after commit before the caller answers). A provider delivery is one unit: its
messages, its status receipts and its business echoes (with their owner changes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from prometheus_client import Counter
from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.adapters.echoes import EchoRecorder, count_echoes
from services.gateway.adapters.tables import delivery_receipts
from services.gateway.adapters.tables import inbound_messages as inbound
from services.gateway.domain.echoes import Echo
from services.gateway.domain.twilio_status import STATUSES as TWILIO_STATUSES
from shared.batching import GroupCommitter
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel, MessageOutcome, MessageReceived
from shared.contracts.topics import MESSAGE_DELIVERIES, MESSAGES_RECEIVED
from shared.outbox import Outbox, OutboxUnit, trace_carrier

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
class ProviderDelivery:
    """One provider delivery: `answered` messages; `recorded` ones, (message id, channel,
    type), kept but not answered; status `receipts`; business `echoes`."""

    answered: list[MessageReceived]
    recorded: list[tuple[str, Channel, str]] = field(default_factory=list)
    receipts: list[DeliveryStatusReported] = field(default_factory=list)
    echoes: Sequence[Echo] = ()
    # The webhook request's trace context, taken where the delivery is built (the route).
    context: Context = field(default_factory=otel_context.get_current)


@dataclass(frozen=True)
class ProviderAcceptance:
    published: int  # events staged, committed and handed to the publisher
    duplicates: int
    statuses: tuple[DeliveryStatusReported, ...] = ()  # the receipts that were new


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


class InboundStore:
    """Both write paths go through `Outbox.unit`: when a method returns, its events are
    committed and published (or, with the broker away past the unit's bound, left to the
    relay), so a provider's next delivery cannot overtake them."""

    def __init__(self, outbox: Outbox, echoes: EchoRecorder) -> None:
        self._outbox = outbox
        self._echoes = echoes
        # One provider delivery, committed before this returns: new messages are recorded
        # and staged, messages seen before are acknowledged and dropped, receipts are stored
        # and staged, business echoes recorded with their owner change. Concurrent
        # deliveries share one transaction (group commit: the batch writer below).
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

    async def _accept_provider_batch(
        self, batch: Sequence[ProviderDelivery]
    ) -> list[ProviderAcceptance]:
        async with self._outbox.unit() as unit:
            new_messages, new_receipts = await _insert_new(unit.session, batch)
            acceptances = _stage_new(unit, batch, new_messages, new_receipts)
            echoes = [echo for delivery in batch for echo in delivery.echoes]
            echo_outcomes = await self._echoes.stage(unit, echoes)
        count_echoes(echo_outcomes)
        for acceptance in acceptances:
            for status in acceptance.statuses:
                label = status.status if status.status in STATUS_LABELS else "other"
                DELIVERY_STATUSES.labels(status.channel.value, label, status.reason or "none").inc()
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


# Prebuilt, executed with a list of rows (SQLAlchemy's "insertmanyvalues": one statement per
# batch); RETURNING names the rows that were new.
_INSERT_MESSAGES = (
    insert(inbound)
    .on_conflict_do_nothing(index_elements=[inbound.c.message_id])
    .returning(inbound.c.message_id)
)
_INSERT_RECEIPTS = (
    insert(delivery_receipts)
    .on_conflict_do_nothing()
    .returning(delivery_receipts.c.provider_message_id, delivery_receipts.c.status)
)


async def _insert_new(
    session: AsyncSession, batch: Sequence[ProviderDelivery]
) -> tuple[set[str], set[tuple[str, str]]]:
    """Insert the batch's messages and receipts, each once; return which were new."""
    messages = [
        _message_row(event.message_id, event.channel, event.message_type, answered=True)
        for delivery in batch
        for event in delivery.answered
    ] + [
        _message_row(message_id, channel, kind, answered=False)
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
    new_messages: set[str] = set()
    if messages:
        new_messages = set((await session.execute(_INSERT_MESSAGES, messages)).scalars())
    new_receipts: set[tuple[str, str]] = set()
    if receipts:
        new_receipts = {
            (row.provider_message_id, row.status)
            for row in await session.execute(_INSERT_RECEIPTS, receipts)
        }
    return new_messages, new_receipts


def _message_row(message_id: str, channel: Channel, kind: str, *, answered: bool) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "channel": channel.value,
        "kind": kind,
        "answered": answered,
        "fingerprint": "provider",
    }


def _stage_new(
    unit: OutboxUnit,
    batch: Sequence[ProviderDelivery],
    new_messages: set[str],
    new_receipts: set[tuple[str, str]],
) -> list[ProviderAcceptance]:
    """Stage what is new under its own request's trace context. A message (or receipt)
    seen twice in one batch is new for its first delivery only."""
    acceptances = []
    for delivery in batch:
        carrier = trace_carrier(delivery.context)
        published = duplicates = 0
        statuses: list[DeliveryStatusReported] = []
        for event in delivery.answered:
            if event.message_id in new_messages:
                new_messages.discard(event.message_id)
                _stage_received(unit, event, carrier)
                published += 1
            else:
                duplicates += 1
        for message_id, _, _ in delivery.recorded:
            if message_id in new_messages:
                new_messages.discard(message_id)
            else:
                duplicates += 1
        for receipt in delivery.receipts:
            key = (receipt.provider_message_id, receipt.status)
            if key in new_receipts:
                new_receipts.discard(key)
                unit.stage(
                    MESSAGE_DELIVERIES.name,
                    receipt.provider_message_id,
                    receipt,
                    carrier=carrier,
                )
                statuses.append(receipt)
                published += 1
        acceptances.append(ProviderAcceptance(published, duplicates, tuple(statuses)))
    return acceptances


def _stage_received(
    unit: OutboxUnit, event: MessageReceived, carrier: dict[str, str] | None = None
) -> None:
    unit.stage(MESSAGES_RECEIVED.name, event.conversation_key, event, carrier=carrier)
