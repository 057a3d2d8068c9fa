"""The gateway's one consumer of `messages.outcomes.v1` (group `gateway-outcomes`): each
batch is parsed once and routed — chatbot-API outcomes are recorded (so a retried request
is answered from them), provider replies go to the reply sender, a turn that starts
shows the typing indicator (stopped by the turn's reply or failure), the rest is not ours.

The group-less `OutcomeListener` that wakes waiting HTTP requests on every replica is
separate on purpose: a consumer group would hand each outcome to one replica only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from aiokafka import ConsumerRecord
from pydantic import TypeAdapter

from services.gateway.adapters.api_outcomes import OutcomeStore
from services.gateway.adapters.store import StoreUnavailable
from services.gateway.domain.replies import is_reply, outage_delay
from shared.consumer import BatchHandler, BatchResult, Received
from shared.contracts.conversations import OutcomeTopicEvent, TurnStarted
from shared.contracts.messages import Channel, MessageOutcome, ResponseGenerated
from shared.logging import get_logger

log = get_logger(__name__)
GROUP = "gateway-outcomes"
# The groups this one replaces (see README, "Upgrading to one outcomes consumer").
FORMER_GROUPS = ("gateway", "gateway-delivery")
_events: TypeAdapter[MessageOutcome | TurnStarted] = TypeAdapter(OutcomeTopicEvent)


def parse_outcome(record: ConsumerRecord) -> MessageOutcome | TurnStarted:
    return _events.validate_json(record.value)


class Typing(Protocol):
    """What the router needs of the typing indicators (entrypoints.typing_indicators)."""

    async def __call__(self, batch: Sequence[Received[TurnStarted]]) -> BatchResult: ...

    def stop(self, conversation_key: str, message_id: str | None = None) -> None: ...


@dataclass
class RecordApiOutcomes:
    store: OutcomeStore

    async def __call__(self, batch: Sequence[Received[MessageOutcome]]) -> BatchResult:
        result = BatchResult()
        try:
            await self.store.record([item.event for item in batch])
        except StoreUnavailable as exc:
            log.warning("api outcomes not recorded; retrying", error=str(exc))
            for item in batch:
                result.retry_later(item, "database unavailable", outage_delay(item.delivery))
        return result


@dataclass
class GatewayOutcomes:
    record: BatchHandler[MessageOutcome]
    send: BatchHandler[ResponseGenerated]
    typing: Typing | None = None

    async def __call__(
        self, batch: Sequence[Received[MessageOutcome | TurnStarted]]
    ) -> BatchResult:
        turns = [
            cast(Received[TurnStarted], item)
            for item in batch
            if isinstance(item.event, TurnStarted)
        ]
        outcomes = [
            cast(Received[MessageOutcome], item)
            for item in batch
            if not isinstance(item.event, TurnStarted)
        ]
        if self.typing is not None:
            if turns:
                await self.typing(turns)
            for item in outcomes:  # in order: a turn and its reply may share a batch
                if item.event.channel != Channel.API:
                    self.typing.stop(item.event.conversation_key, item.event.message_id)
        # Only the API answers a retried request from the stored outcome; a provider's
        # redelivered webhook is acknowledged and dropped, so storing its outcome is waste.
        api = [item for item in outcomes if item.event.channel == Channel.API]
        replies = [
            cast(Received[ResponseGenerated], item) for item in outcomes if is_reply(item.event)
        ]
        results = await asyncio.gather(
            *([self.record(api)] if api else []), *([self.send(replies)] if replies else [])
        )
        merged = BatchResult()
        for result in results:
            if result is not None:
                merged.verdicts.update(result.verdicts)
        return merged
