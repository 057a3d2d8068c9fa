"""Outcome events in: keep each API message's latest outcome so a retried request is answered."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import ConsumerRecord

from services.gateway.adapters.inbound import InboundStore, outcome_adapter
from shared.contracts.messages import Channel


@dataclass
class OutcomeRecorder:
    store: InboundStore

    async def __call__(self, record: ConsumerRecord) -> None:
        outcome = outcome_adapter.validate_json(record.value)
        # Only the API answers a retried request from the stored outcome; a provider's
        # redelivered webhook is acknowledged and dropped, so storing it costs for nothing.
        if outcome.channel == Channel.API:
            await self.store.record_outcome(outcome)
