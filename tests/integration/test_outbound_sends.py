"""The gateway's outbound statements on a real PostgreSQL: a batch claimed in one
statement, a live lease refused, outcomes recorded in one statement, a given-back lease
taken again, leases renewed, API outcomes kept newest-attempt-first."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from services.gateway.adapters.api_outcomes import ApiOutcomes
from services.gateway.adapters.outbound_sends import (
    FAILED,
    SENDING,
    SENT,
    OutboundSends,
    SendIntent,
    SendRecord,
)
from shared.contracts.messages import Channel, ConfigSource, ResponseGenerated
from shared.db import Statements, make_engine
from tests.support.db import rows

pytestmark = pytest.mark.integration


async def test_claims_leases_and_records_per_batch(bootstrapped: dict[str, str]) -> None:
    url = bootstrapped["DATABASE_URL"]
    engine = make_engine(url)
    try:
        store = OutboundSends(Statements(engine), lease=timedelta(seconds=30))
        ids = [f"wamid.it{uuid.uuid4().hex}" for _ in range(3)]
        intents = [SendIntent(m, "whatsapp", 1) for m in ids]

        first = await store.claim(intents)
        assert set(first.taken) == set(ids) and not first.finished and not first.busy
        assert {c.attempts for c in first.taken.values()} == {1}
        again = await store.claim(intents)
        assert not again.taken and again.busy == frozenset(ids)

        await store.part_sent(ids[0], 1, ["wamid.p1"])
        await store.record(
            [
                SendRecord(ids[0], "whatsapp", 2, SENT, 2, ["wamid.p1", "wamid.p2"]),
                SendRecord(ids[1], "whatsapp", 1, SENDING, 0, [], "provider unavailable (503)"),
                SendRecord(ids[2], "whatsapp", 1, FAILED, 0, [], "provider answered 401"),
            ]
        )
        third = await store.claim(intents)
        assert third.finished == frozenset({ids[0], ids[2]}) and not third.busy
        assert list(third.taken) == [ids[1]] and third.taken[ids[1]].attempts == 2

        before = await rows(
            url, "select lease_until from outbound_deliveries where message_id = :m", m=ids[1]
        )
        await store.renew([ids[1], ids[0]])
        after = await rows(
            url, "select lease_until from outbound_deliveries where message_id = :m", m=ids[1]
        )
        assert after[0]["lease_until"] >= before[0]["lease_until"]
        lost = f"wamid.it{uuid.uuid4().hex}"  # its claim was lost in a crash: still recorded
        await store.record([SendRecord(lost, "whatsapp", 1, SENT, 1, ["wamid.x"])])
        assert (await store.claim([SendIntent(lost, "whatsapp", 1)])).finished == {lost}
        stored = await rows(
            url,
            "select status, parts_sent, provider_message_ids, lease_until from "
            "outbound_deliveries where message_id = :m",
            m=ids[0],
        )
        assert stored == [
            {
                "status": SENT,
                "parts_sent": 2,
                "provider_message_ids": ["wamid.p1", "wamid.p2"],
                "lease_until": None,  # finished rows are not renewed
            }
        ]
    finally:
        await engine.dispose()


def _outcome(message_id: str, attempt: int) -> ResponseGenerated:
    return ResponseGenerated(
        message_id=message_id,
        attempt=attempt,
        conversation_key="api:-:+33600000000",
        user_id=uuid.uuid4(),
        channel=Channel.API,
        customer_phone="+33600000000",
        response=f"answer {attempt}",
        config_source=ConfigSource.USER,
        model="m",
    )


async def test_api_outcomes_keep_the_newest_attempt(bootstrapped: dict[str, str]) -> None:
    url = bootstrapped["DATABASE_URL"]
    engine = make_engine(url)
    try:
        ids = [f"api-it-{uuid.uuid4().hex}" for _ in range(2)]
        async with engine.begin() as connection:
            for message_id in ids:
                await connection.execute(
                    text(
                        "insert into inbound_messages (message_id, channel, fingerprint) "
                        "values (:m, 'api', 'f')"
                    ),
                    {"m": message_id},
                )
        store = ApiOutcomes(Statements(engine))

        await store.record([_outcome(ids[0], 2), _outcome(ids[1], 1)])
        await store.record([_outcome(ids[0], 1)])  # an older attempt arriving late

        stored = await rows(
            url,
            "select message_id, outcome_attempt, outcome->>'response' as response "
            "from inbound_messages where message_id in (:a, :b) order by message_id",
            a=ids[0],
            b=ids[1],
        )
        assert sorted((r["message_id"], r["outcome_attempt"], r["response"]) for r in stored) == (
            sorted([(ids[0], 2, "answer 2"), (ids[1], 1, "answer 1")])
        )
    finally:
        await engine.dispose()
