"""In-memory stand-ins for the seams handlers are built on: records as the consumer hands
them out, and a publish that keeps what it was given. No broker, no database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import ConsumerRecord
from opentelemetry import trace

from shared.consumer import Received
from shared.contracts.messages import Channel, IdentifiedBy, UserIdentified
from shared.messaging import Outgoing

T = TypeVar("T")


def api_message(phone: str, user: uuid.UUID | None, text_: str = "hi") -> UserIdentified:
    """A generic-endpoint message as the responder gets it (a fresh message id)."""
    return UserIdentified(
        message_id=f"m-{uuid.uuid4().hex}",
        conversation_key=f"api:-:{phone}",
        channel=Channel.API,
        source="whatsapp",
        customer_phone=phone,
        text=text_,
        received_at=datetime.now(UTC).isoformat(),
        user_id=user,
        identified_by=IdentifiedBy.NONE,
    )


def received(
    event: T, key: str = "api:-:+33600000000", delivery: int = 1, offset: int = 0
) -> Received[T]:
    record = ConsumerRecord(
        topic="test.topic",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key.encode(),
        value=b"",
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=0,
        headers=(),
    )
    return Received(event, record, trace.INVALID_SPAN, delivery, time.monotonic())


class Published:
    """A `Publish` that records every event, in order."""

    def __init__(self) -> None:
        self.events: list[Outgoing] = []

    async def __call__(self, events: Sequence[Outgoing]) -> None:
        self.events.extend(events)

    def of_type(self, cls: type[T]) -> list[T]:
        return [out.event for out in self.events if isinstance(out.event, cls)]
