"""A batch of provider deliveries without business echoes in one statement, in autocommit:
its messages and receipts inserted once, and the outbox rows of exactly those that were
new, in delivery order, in one round trip with no BEGIN and COMMIT around it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text

from services.gateway.adapters.inbound_rows import (
    ProviderAcceptance,
    ProviderDelivery,
    message_rows,
    new_events,
    receipt_rows,
)
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import MessageReceived
from shared.db import Statements
from shared.outbox import StagedEvent

# Messages and receipts inserted once (ordered by key: concurrent batches of two replicas
# take their row locks in one order); outbox rows for the candidates that were new, in
# delivery order. Identity values follow that order within the statement, so the ids
# returned, sorted, are the new candidates' ids in order.
_ACCEPT = text("""
    WITH new_messages AS (
        INSERT INTO inbound_messages (message_id, channel, kind, answered, fingerprint)
        SELECT message_id, channel, kind, answered, 'provider' FROM unnest(
            CAST(:message_ids AS text[]), CAST(:message_channels AS text[]),
            CAST(:message_kinds AS text[]), CAST(:answered AS boolean[])
        ) AS m(message_id, channel, kind, answered)
        ORDER BY message_id
        ON CONFLICT (message_id) DO NOTHING
        RETURNING message_id
    ), new_receipts AS (
        INSERT INTO delivery_receipts
            (provider_message_id, status, channel, recipient, provider_timestamp, errors)
        SELECT * FROM unnest(
            CAST(:receipt_ids AS text[]), CAST(:receipt_statuses AS text[]),
            CAST(:receipt_channels AS text[]), CAST(:recipients AS text[]),
            CAST(:provider_timestamps AS text[]), CAST(:receipt_errors AS jsonb[])
        ) AS r(provider_message_id, status, channel, recipient, provider_timestamp, errors)
        ORDER BY provider_message_id, status
        ON CONFLICT DO NOTHING
        RETURNING provider_message_id, status
    ), staged AS (
        INSERT INTO gateway_outbox (topic, key, payload, trace_carrier)
        SELECT e.topic, e.key, e.payload, e.carrier FROM unnest(
            CAST(:topics AS text[]), CAST(:keys AS text[]), CAST(:payloads AS text[]),
            CAST(:carriers AS jsonb[]), CAST(:event_ids AS text[]),
            CAST(:event_statuses AS text[])
        ) WITH ORDINALITY AS e(topic, key, payload, carrier, id, status, n)
        WHERE (e.status IS NULL AND e.id IN (SELECT message_id FROM new_messages))
           OR (e.id, e.status) IN (SELECT provider_message_id, status FROM new_receipts)
        ORDER BY e.n
        RETURNING id
    )
    SELECT 'message' AS kind, message_id AS name, NULL AS status, NULL::bigint AS row_id
    FROM new_messages
    UNION ALL SELECT 'receipt', provider_message_id, status, NULL FROM new_receipts
    UNION ALL SELECT 'event', NULL, NULL, id FROM staged
    """)


async def accept_rows(
    db: Statements, batch: Sequence[ProviderDelivery]
) -> tuple[list[ProviderAcceptance], list[StagedEvent]]:
    """The batch's rows in one statement: what each delivery published, and the events
    to publish now that they are committed."""
    messages = message_rows(batch)
    receipts = receipt_rows(batch)
    # What would be staged if everything were new; the statement keeps the new ones.
    _, candidates = new_events(batch, {row["message_id"] for row in messages}, set(receipts))
    payloads = [entry.event.model_dump_json() for entry in candidates]
    identities = [_identity(entry.event) for entry in candidates]
    found = await db.execute(
        _ACCEPT,
        {
            "message_ids": [row["message_id"] for row in messages],
            "message_channels": [row["channel"] for row in messages],
            "message_kinds": [row["kind"] for row in messages],
            "answered": [row["answered"] for row in messages],
            **_receipt_columns(receipts),
            "topics": [entry.topic for entry in candidates],
            "keys": [entry.key for entry in candidates],
            "payloads": payloads,
            "carriers": [json.dumps(entry.carrier) for entry in candidates],
            "event_ids": [name for name, _ in identities],
            "event_statuses": [status for _, status in identities],
        },
    )
    new_messages: set[str] = set()
    new_receipts: set[tuple[str, str]] = set()
    row_ids: list[int] = []
    for row in found:
        if row.kind == "message":
            new_messages.add(row.name)
        elif row.kind == "receipt":
            new_receipts.add((row.name, row.status))
        else:
            row_ids.append(row.row_id)
    new = [
        (entry, payload)
        for entry, payload in zip(candidates, payloads, strict=True)
        if _is_new(entry.event, new_messages, new_receipts)
    ]
    staged = [
        StagedEvent(row_id, entry.topic, entry.key, payload, entry.carrier)
        for row_id, (entry, payload) in zip(sorted(row_ids), new, strict=True)
    ]
    acceptances, _ = new_events(batch, new_messages, new_receipts)
    return acceptances, staged


def _identity(event: BaseModel) -> tuple[str, str | None]:
    if isinstance(event, DeliveryStatusReported):
        return event.provider_message_id, event.status
    assert isinstance(event, MessageReceived)
    return event.message_id, None


def _is_new(event: BaseModel, messages: set[str], receipts: set[tuple[str, str]]) -> bool:
    name, status = _identity(event)
    return name in messages if status is None else (name, status) in receipts


def _receipt_columns(receipts: dict[tuple[str, str], dict[str, Any]]) -> dict[str, list[Any]]:
    rows = list(receipts.values())
    return {
        "receipt_ids": [row["provider_message_id"] for row in rows],
        "receipt_statuses": [row["status"] for row in rows],
        "receipt_channels": [row["channel"] for row in rows],
        "recipients": [row["recipient"] for row in rows],
        "provider_timestamps": [row["provider_timestamp"] for row in rows],
        "receipt_errors": [json.dumps(row["errors"]) for row in rows],
    }
