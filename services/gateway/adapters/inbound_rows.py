"""What a batch of provider deliveries writes: its messages and status receipts, each once,
and the events of exactly those that were new, in the order they were delivered.

A batch without business echoes is written by one statement (inbound_statement.py). A
batch with echoes goes through an outbox unit (`insert_new`, then `new_events` staged in its
transaction), since the echo recorder writes in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.adapters.tables import delivery_receipts
from services.gateway.adapters.tables import inbound_messages as inbound
from services.gateway.domain.echoes import Echo
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel, MessageReceived
from shared.contracts.topics import MESSAGE_DELIVERIES, MESSAGES_RECEIVED
from shared.outbox import OutboxEntry, trace_carrier


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


def message_rows(batch: Sequence[ProviderDelivery]) -> list[dict[str, Any]]:
    """A message id once: as its first delivery in the batch has it (as `new_events` counts)."""
    first: dict[str, dict[str, Any]] = {}
    for delivery in batch:
        for event in delivery.answered:
            first.setdefault(
                event.message_id,
                _message_row(event.message_id, event.channel, event.message_type, answered=True),
            )
        for message_id, channel, kind in delivery.recorded:
            first.setdefault(message_id, _message_row(message_id, channel, kind, answered=False))
    return list(first.values())


def receipt_rows(batch: Sequence[ProviderDelivery]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each receipt once (its first delivery), by (provider message id, status)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for delivery in batch:
        for receipt in delivery.receipts:
            rows.setdefault(
                (receipt.provider_message_id, receipt.status),
                {
                    "provider_message_id": receipt.provider_message_id,
                    "status": receipt.status,
                    "channel": receipt.channel.value,
                    "recipient": receipt.recipient,
                    "provider_timestamp": receipt.timestamp,
                    "errors": receipt.errors,
                },
            )
    return rows


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


async def insert_new(
    session: AsyncSession, batch: Sequence[ProviderDelivery]
) -> tuple[set[str], set[tuple[str, str]]]:
    """Insert the batch's messages and receipts, each once; return which were new."""
    messages = message_rows(batch)
    receipts = list(receipt_rows(batch).values())
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


def new_events(
    batch: Sequence[ProviderDelivery], new_messages: set[str], new_receipts: set[tuple[str, str]]
) -> tuple[list[ProviderAcceptance], list[OutboxEntry]]:
    """What each delivery published, and the events of what is new, each under its own
    request's trace context. A message (or receipt) seen twice in one batch is new for its
    first delivery only."""
    new_messages, new_receipts = set(new_messages), set(new_receipts)
    acceptances, entries = [], []
    for delivery in batch:
        carrier = trace_carrier(delivery.context)
        published = duplicates = 0
        statuses: list[DeliveryStatusReported] = []
        for event in delivery.answered:
            if event.message_id in new_messages:
                new_messages.discard(event.message_id)
                entries.append(
                    OutboxEntry(MESSAGES_RECEIVED.name, event.conversation_key, event, carrier)
                )
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
                entries.append(
                    OutboxEntry(
                        MESSAGE_DELIVERIES.name, receipt.provider_message_id, receipt, carrier
                    )
                )
                statuses.append(receipt)
                published += 1
        acceptances.append(ProviderAcceptance(published, duplicates, tuple(statuses)))
    return acceptances, entries
