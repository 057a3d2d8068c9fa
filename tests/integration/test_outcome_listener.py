"""The gateway's group-less outcome listener against a real broker: it fetches nothing while
no /api-chatbot caller waits, and a caller that waits after a pause, short or long, gets
its outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer

from services.gateway.adapters import outcomes
from services.gateway.adapters.outcomes import OutcomeListener, OutcomeWaiters
from shared.contracts.messages import Channel, FailureReason, ResponseFailed
from shared.contracts.topics import MESSAGE_OUTCOMES

pytestmark = pytest.mark.integration


def _outcome(message_id: str) -> bytes:
    return (
        ResponseFailed(
            message_id=message_id,
            attempt=1,
            conversation_key=f"api:-:{message_id}",
            user_id=None,
            channel=Channel.API,
            reason=FailureReason.PROVIDER_UNAVAILABLE,
            retryable=True,
        )
        .model_dump_json()
        .encode()
    )


async def _until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def _publish(producer: AIOKafkaProducer, message_id: str) -> None:
    await producer.send_and_wait(
        MESSAGE_OUTCOMES.name, _outcome(message_id), key=message_id.encode()
    )


@pytest.mark.parametrize("long_pause", [False, True])
async def test_paused_while_nobody_waits_and_a_later_caller_hears_its_outcome(
    bootstrapped: dict[str, str], monkeypatch: pytest.MonkeyPatch, long_pause: bool
) -> None:
    if long_pause:  # every pause counts as long: the listener seeks to the end
        monkeypatch.setattr(outcomes, "SEEK_AFTER_PAUSE_S", 0.0)
    kafka = bootstrapped["KAFKA_BOOTSTRAP_SERVERS"]
    waiters = OutcomeWaiters()
    listener = OutcomeListener(kafka, waiters)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await listener.start()
    await producer.start()
    try:
        await _until(lambda: listener.paused)
        early = uuid.uuid4().hex
        await _publish(producer, early)  # while nobody waits: not read now

        early_future = waiters.register(early)
        await waiters.listening()
        assert not listener.paused
        mine = uuid.uuid4().hex
        mine_future = waiters.register(mine)
        await waiters.listening()  # already listening: returns at once
        await _publish(producer, mine)

        assert (await asyncio.wait_for(mine_future, 10)).message_id == mine
        # After a short pause the listener went on from where it stopped; after a long one
        # it skipped what came before anyone listened.
        assert early_future.done() is not long_pause
        waiters.forget(mine, mine_future)
        waiters.forget(early, early_future)
        await _until(lambda: listener.paused)
        assert listener.alive
    finally:
        await producer.stop()
        await listener.stop()
