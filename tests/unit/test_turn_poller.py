"""The turn poller: each claimed turn runs in its own task; one heartbeat renews the leases
of all running turns with one statement; a turn that raises is recorded as an unexpected
failure and does not stop the others."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

from services.responder.adapters.turn_records import ClaimedTurn
from services.responder.domain.retry import RetryPolicy
from services.responder.entrypoints.turn_poller import TurnPoller
from services.responder.entrypoints.turns import TurnPolicy
from tests.unit.test_responder_turns import FakeTurnStore, _turn

POLICY = dataclasses.replace(
    TurnPolicy("be brief", "http://groq.test", RetryPolicy(budget_s=3600)),
    poll_interval_s=0.01,
    lease_s=0.09,  # a heartbeat every 30 ms
)


class Answers:
    """Turns saying "boom" raise; the others wait for `release`."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.answered: list[uuid.UUID] = []
        self.unexpected: list[tuple[uuid.UUID, str]] = []

    async def __call__(self, turn: ClaimedTurn) -> None:
        if turn.last.text == "boom":
            raise RuntimeError("a bug")
        await self.release.wait()
        self.answered.append(turn.turn_id)

    async def failed_unexpectedly(self, turn: ClaimedTurn, error: Exception) -> None:
        self.unexpected.append((turn.turn_id, str(error)))


async def test_running_turns_share_one_lease_renewal_and_a_failing_turn_is_recorded() -> None:
    quiet, busy, broken = _turn("hello"), _turn("are you there"), _turn("boom")
    store, answers = FakeTurnStore(claimable=[quiet, busy, broken]), Answers()
    poller = TurnPoller(store, answers, POLICY, ready=lambda: True)
    await poller.start()
    try:
        for _ in range(200):
            if store.renewed and answers.unexpected:
                break
            await asyncio.sleep(0.01)
        answers.release.set()
        for _ in range(200):
            if len(answers.answered) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await poller.stop()

    assert answers.unexpected == [(broken.turn_id, "a bug")]
    assert sorted(answers.answered) == sorted([quiet.turn_id, busy.turn_id])
    assert store.renewed[0] and set(store.renewed[0]) == {quiet.turn_id, busy.turn_id}


async def test_no_statement_while_no_turn_runs() -> None:
    store = FakeTurnStore()
    poller = TurnPoller(store, Answers(), POLICY, ready=lambda: True)
    await poller.start()
    await asyncio.sleep(0.1)
    await poller.stop()
    assert store.renewed == []
