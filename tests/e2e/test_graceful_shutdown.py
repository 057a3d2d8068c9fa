"""SIGTERM during a burst: each service exits within its grace period and no accepted
message is lost or answered twice (callers retry with the same messageId, as the contract
allows)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import httpx
import pytest

from tests.support.db import rows
from tests.support.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GRACE_PERIOD_S = 30  # terminationGracePeriodSeconds in deploy/k8s


async def _until_answered(stack: Stack, number: str, message_id: str, text: str) -> int:
    """A well-behaved client: retries transport errors and retryable answers, same messageId."""
    deadline = time.monotonic() + 90
    while True:
        try:
            response = await stack.chat(number, text, message_id=message_id, timeout=60)
            if response.status_code == 200 or not response.json().get("retryable"):
                return response.status_code
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            return 0
        await asyncio.sleep(0.3)


@pytest.mark.parametrize("service_name", ["identity", "responder", "gateway", "config"])
async def test_sigterm_mid_burst_exits_in_time_and_loses_nothing(
    stack: Stack, service_name: str
) -> None:
    _, number = await stack.new_tenant(f"gsk_term_{uuid.uuid4().hex}")
    service = getattr(stack, service_name)
    run = uuid.uuid4().hex[:8]
    ids = [f"term-{run}-{i}" for i in range(24)]
    await stack.groq_control("/_fake/delay", {"seconds": 0.2})
    try:
        burst = [
            asyncio.create_task(_until_answered(stack, number, mid, f"term {run} {mid}"))
            for mid in ids
        ]
        await asyncio.sleep(0.7)
        started = time.monotonic()
        service.signal(signal.SIGTERM)
        code = await asyncio.to_thread(service.proc.wait, GRACE_PERIOD_S)
        took = time.monotonic() - started
        service.start()
        await asyncio.to_thread(service.wait_ready)
        statuses = await asyncio.gather(*burst)
    finally:
        await stack.groq_control("/_fake/delay", {"seconds": 0})

    assert code == 0, service.tail()
    assert took < GRACE_PERIOD_S
    assert statuses == [200] * len(ids)
    replies = await rows(
        stack.database_url,
        "select message_id, count(*) as n from customer_conversations "
        "where sender = 'bot' and message_id like :p group by message_id",
        p=f"term-{run}-%",
    )
    assert {r["message_id"]: r["n"] for r in replies} == dict.fromkeys(ids, 1)
