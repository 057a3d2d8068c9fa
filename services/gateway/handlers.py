"""Outcome events in: keep each message's latest outcome so a retried request is answered."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import ConsumerRecord

from services.gateway.adapters.inbound import InboundStore, outcome_adapter


@dataclass
class OutcomeRecorder:
    store: InboundStore

    async def __call__(self, record: ConsumerRecord) -> None:
        await self.store.record_outcome(outcome_adapter.validate_json(record.value))
