"""The gateway's one outcomes consumer routes a batch: API outcomes recorded with one
call, provider replies to the sender, everything else left alone."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.gateway.adapters.store import StoreUnavailable
from services.gateway.entrypoints.outcomes import GatewayOutcomes, RecordApiOutcomes
from shared.consumer import BatchResult, Received
from shared.contracts.messages import (
    Channel,
    ConfigSource,
    FailureReason,
    MessageOutcome,
    ResponseFailed,
    ResponseGenerated,
)
from tests.support.seams import received


class FakeOutcomes:
    def __init__(self, down: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.down = down

    async def record(self, outcomes: Sequence[MessageOutcome]) -> None:
        if self.down:
            raise StoreUnavailable("connection refused")
        self.calls.append([o.message_id for o in outcomes])


class FakeSender:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def __call__(self, batch: Sequence[Received[ResponseGenerated]]) -> BatchResult:
        self.batches.append([item.event.message_id for item in batch])
        return BatchResult()


def _generated(channel: Channel) -> Received[MessageOutcome]:
    key = f"{channel.value}:+14155550101:+3361{uuid.uuid4().int % 10**7:07d}"
    event = ResponseGenerated(
        message_id=f"m-{uuid.uuid4().hex}",
        conversation_key=key,
        user_id=None,
        channel=channel,
        customer_phone="+33610000000",
        response="hi",
        config_source=ConfigSource.FALLBACK,
        model="m",
    )
    return received(event, key)


def _failed(channel: Channel) -> Received[MessageOutcome]:
    key = f"{channel.value}:+14155550101:+33612345678"
    event = ResponseFailed(
        message_id=f"m-{uuid.uuid4().hex}",
        conversation_key=key,
        user_id=None,
        channel=channel,
        reason=FailureReason.PROVIDER_UNAVAILABLE,
        retryable=True,
    )
    return received(event, key)


async def test_each_kind_of_outcome_goes_to_its_handler_once_per_batch() -> None:
    store, sender = FakeOutcomes(), FakeSender()
    api = [_generated(Channel.API), _failed(Channel.API)]
    replies = [_generated(Channel.WHATSAPP), _generated(Channel.TWILIO)]
    ignored = [_failed(Channel.WHATSAPP)]

    result = await GatewayOutcomes(RecordApiOutcomes(store), sender)([*api, *replies, *ignored])

    assert result.verdicts == {}
    assert store.calls == [[item.event.message_id for item in api]]
    assert sender.batches == [[item.event.message_id for item in replies]]


async def test_api_outcomes_wait_for_the_database() -> None:
    item = _generated(Channel.API)
    route = GatewayOutcomes(RecordApiOutcomes(FakeOutcomes(down=True)), FakeSender())

    result = await route([item])

    assert result.verdicts[id(item)].kind == "retry"
