"""In-memory stand-ins for the seams handlers are built on: records as the consumer hands
them out, and a publish that keeps what it was given. No broker, no database."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TypeVar

from aiokafka import ConsumerRecord
from opentelemetry import trace

from shared.consumer import Received
from shared.messaging import Outgoing

T = TypeVar("T")


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
