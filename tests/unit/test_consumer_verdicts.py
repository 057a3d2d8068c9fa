"""What becomes of a handled record, without a broker: done, retried on a timer, parked on
the dead-letter topic with its reason, or kept when the dead-letter topic cannot be reached."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaProducer, TopicPartition

from shared.batch_handlers import BatchResult, ConsumerOptions
from shared.consumer_schedule import Entry
from shared.consumer_verdicts import Verdicts
from tests.support.seams import received


class FakeDlq:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []
        self.away = False

    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        if self.away:
            raise ConnectionError("broker away")
        self.sent.append((topic, key, headers))


def _verdicts(dlq: FakeDlq, woken: list[Entry], **options: Any) -> Verdicts:
    return Verdicts(
        group="g",
        options=ConsumerOptions(first_backoff_s=0.01, max_backoff_s=0.01, **options),
        dlq=cast(AIOKafkaProducer, dlq),
        wake=woken.append,
    )


def _handled() -> tuple[Entry, Any]:
    item = received("event", key="w:1:a")
    return Entry(item.record, TopicPartition("test.topic", 0)), item


async def _until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met")


async def test_no_verdict_is_done_and_retry_later_wakes_the_record_after_its_delay() -> None:
    dlq, woken = FakeDlq(), list[Entry]()
    verdicts = _verdicts(dlq, woken)
    entry, item = _handled()
    assert await verdicts.settle(entry, item, None)

    result = BatchResult()
    result.retry_later(item, "rate limited", after_s=0.01)
    assert not await verdicts.settle(entry, item, result.verdicts[id(item)])
    await _until(lambda: woken == [entry])
    assert dlq.sent == []


async def test_a_failing_record_is_retried_then_parked_with_its_reason() -> None:
    dlq, woken = FakeDlq(), list[Entry]()
    verdicts = _verdicts(dlq, woken, max_attempts=2)
    entry, item = _handled()
    result = BatchResult()
    result.fail(item, ValueError("bad row\nparameters: secret"))

    assert not await verdicts.settle(entry, item, result.verdicts[id(item)])
    await _until(lambda: woken == [entry])
    assert await verdicts.settle(entry, item, result.verdicts[id(item)])

    [(topic, key, headers)] = dlq.sent
    reason = dict(headers)["dlq-reason"].decode()
    assert (topic, key) == ("test.topic.dlq", b"w:1:a")
    assert reason == "failed 2 times: ValueError: bad row"  # first line only: no parameters
    assert dict(headers)["dlq-source"] == b"test.topic/0/0"


async def test_a_park_that_cannot_reach_the_broker_keeps_the_record_for_later() -> None:
    dlq, woken = FakeDlq(), list[Entry]()
    dlq.away = True
    verdicts = _verdicts(dlq, woken)
    entry, item = _handled()
    result = BatchResult()
    result.park(item, "unprocessable: no such tenant")

    assert not await verdicts.settle(entry, item, result.verdicts[id(item)])
    await _until(lambda: woken == [entry])  # tried again, not lost
    assert dlq.sent == []
