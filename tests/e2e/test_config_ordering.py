"""Concurrent writes to one entity: every config view ends on the last committed write.

Twenty PUTs for one tenant's settings race each other through two config replicas (as in
production); the database serialises them, their events reach the topic in whatever order
the publishes finish (measured before versions: ~1 round in 15 ended with the topic's last
record not the last commit). Each event carries the entity's version, drawn in the writing
transaction, so the views keep the newest one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import second_replica
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e

WRITERS = 20
ROUNDS = 6


@pytest.fixture(scope="module")
def replicas(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The config service's URLs: the stack's and a second replica's."""
    with second_replica(stack.config, "CONFIG_PORT", tmp_path_factory.mktemp("config-2")) as second:
        yield [stack.config.url, second.url]


async def _race(
    stack: Stack, replicas: list[str], path: str, user_id: uuid.UUID, bodies: list[object]
) -> int:
    """All PUTs at once, spread over the replicas; the highest config offset answered."""
    headers = stack.user(user_id)
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.put(replicas[i % len(replicas)] + path, headers=headers, json=body)
                for i, body in enumerate(bodies)
            )
        )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return max(int(r.headers["x-config-version"]) for r in responses)


async def test_the_responder_ends_on_the_last_committed_groq_config(
    stack: Stack, replicas: list[str]
) -> None:
    api_key = f"gsk_order_{uuid.uuid4().hex}"
    user, number = await stack.new_tenant(api_key)
    for round_ in range(ROUNDS):
        bodies: list[object] = [
            {"api_key": api_key, "model": f"order-{round_}-{i}", "temperature": i / WRITERS}
            for i in range(WRITERS)
        ]
        await stack.wait_config_applied(
            await _race(stack, replicas, "/v1/me/groq-config", user, bodies)
        )
        stored = (await stack.config_call("GET", "/v1/me/groq-config", stack.user(user))).json()

        sent = f"which model now {uuid.uuid4()}"
        assert (await stack.chat(number, sent)).status_code == 200
        [call] = [r for r in await stack.groq_requests() if sent in str(r["body"])]
        assert (call["body"]["model"], call["body"]["temperature"]) == (
            stored["model"],
            stored["temperature"],
        ), f"round {round_}"


async def test_identity_and_gateway_end_on_the_last_committed_whatsapp_config(
    stack: Stack, replicas: list[str]
) -> None:
    api_key = f"gsk_order_wa_{uuid.uuid4().hex}"
    user, _ = await stack.new_tenant(api_key)
    for round_ in range(ROUNDS):
        numbers = {f"PNorder{uuid.uuid4().hex[:10]}": random_number() for _ in range(WRITERS)}
        tokens = {number_id: f"vt-order-{uuid.uuid4().hex}" for number_id in numbers}
        bodies: list[object] = [
            {
                "phone_number_id": number_id,
                "display_phone_number": display,
                "access_token": f"EAAorder{uuid.uuid4().hex}",
                "verify_token": tokens[number_id],
            }
            for number_id, display in numbers.items()
        ]
        await stack.wait_config_applied(
            await _race(stack, replicas, "/v1/me/whatsapp-config", user, bodies)
        )
        stored = (await stack.config_call("GET", "/v1/me/whatsapp-config", stack.user(user))).json()
        last = stored["phone_number_id"]
        assert numbers[last] == stored["display_phone_number"]

        # identity: the stored number is this tenant's (its own Groq key answers)
        sent = f"who owns this number {uuid.uuid4()}"
        assert (await stack.chat(numbers[last], sent)).status_code == 200
        [call] = [r for r in await stack.groq_requests() if sent in str(r["body"])]
        assert call["authorization"] == f"Bearer {api_key}", f"round {round_}"

        # gateway: the stored verify token is accepted, a superseded one no longer
        superseded = next(t for number_id, t in tokens.items() if number_id != last)
        async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client:
            for token, status in ((tokens[last], 200), (superseded, 403)):
                answer = await client.get(
                    "/webhooks/whatsapp",
                    params={"hub.mode": "subscribe", "hub.verify_token": token},
                )
                assert answer.status_code == status, f"round {round_}"
