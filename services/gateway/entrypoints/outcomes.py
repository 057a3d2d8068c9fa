"""The gateway's one consumer of `messages.outcomes.v1` (group `gateway-outcomes`): each
batch is parsed once and routed — chatbot-API outcomes are recorded (so a retried request
is answered from them), provider replies go to the reply sender, the rest is not ours.

The group-less `OutcomeListener` that wakes waiting HTTP requests on every replica is
separate on purpose: a consumer group would hand each outcome to one replica only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from aiokafka import ConsumerRecord
from pydantic import TypeAdapter

from services.gateway.adapters.api_outcomes import OutcomeStore
from services.gateway.adapters.store import StoreUnavailable
from services.gateway.domain.replies import is_reply, outage_delay
from shared.consumer import BatchHandler, BatchResult, Received
from shared.contracts.messages import Channel, MessageOutcome, ResponseGenerated
from shared.logging import get_logger

log = get_logger(__name__)
GROUP = "gateway-outcomes"
# The groups this one replaces (see README, "Upgrading to one outcomes consumer").
FORMER_GROUPS = ("gateway", "gateway-delivery")
_outcomes: TypeAdapter[MessageOutcome] = TypeAdapter(MessageOutcome)


def parse_outcome(record: ConsumerRecord) -> MessageOutcome:
    return _outcomes.validate_json(record.value)


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

    async def __call__(self, batch: Sequence[Received[MessageOutcome]]) -> BatchResult:
        # Only the API answers a retried request from the stored outcome; a provider's
        # redelivered webhook is acknowledged and dropped, so storing its outcome is waste.
        api = [item for item in batch if item.event.channel == Channel.API]
        replies = [
            cast(Received[ResponseGenerated], item) for item in batch if is_reply(item.event)
        ]
        results = await asyncio.gather(
            *([self.record(api)] if api else []), *([self.send(replies)] if replies else [])
        )
        merged = BatchResult()
        for result in results:
            if result is not None:
                merged.verdicts.update(result.verdicts)
        return merged
