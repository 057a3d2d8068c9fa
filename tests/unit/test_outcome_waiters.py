from __future__ import annotations

import asyncio

from services.gateway.adapters.outcomes import OutcomeWaiters
from shared.contracts.messages import Channel, FailureReason, ResponseFailed


def _outcome(attempt: int) -> ResponseFailed:
    return ResponseFailed(
        message_id="m",
        attempt=attempt,
        conversation_key="k",
        user_id=None,
        channel=Channel.API,
        reason=FailureReason.PROVIDER_UNAVAILABLE,
        retryable=True,
    )


async def test_a_stale_attempt_does_not_answer_a_retry() -> None:
    waiters = OutcomeWaiters()
    future = waiters.register("m")
    waiters.raise_attempt("m", future, 2)
    waiters.resolve(_outcome(1))
    assert not future.done()
    waiters.resolve(_outcome(2))
    assert (await asyncio.wait_for(future, 1)).attempt == 2
    waiters.forget("m", future)
    assert len(waiters) == 0


async def test_every_waiter_of_a_message_is_answered() -> None:
    waiters = OutcomeWaiters()
    futures = [waiters.register("m") for _ in range(3)]
    waiters.resolve(_outcome(1))
    assert all(f.done() for f in futures)
