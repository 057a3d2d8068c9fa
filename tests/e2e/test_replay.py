"""The log rebuilds every read model: after real traffic each projection is emptied, its
replay command (a subprocess) rebuilds it from the topics, and it is identical to what the
live consumers had built; the message topics keep every record."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from services.config.domain.projection import PROJECTED_TOPICS
from shared.contracts.topics import ALL_TOPICS
from shared.topic_configs import topic_overrides
from tests.support.db import engine_for
from tests.support.kafka import lag
from tests.support.processes import ROOT, ServiceProcess
from tests.support.providers import meta_signature, text_message, wamid, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Projection:
    service: str
    table: str
    key: str
    # Columns left out, each for a reason the replay prints too: `id` numbers rows in
    # insertion order (the replay runs partitions side by side), `recorded_at` is when the
    # row was written. Every other column, times included, comes from the events.
    ignored: tuple[str, ...] = ()
    read_role: str | None = None  # message_events has row-level security


PROJECTIONS = (
    Projection("identity", "identity_customer_history", "customer_phone"),
    Projection("responder", "customer_conversations", "message_id, sender", ("id",)),
    Projection("config", "message_events", "event_id", ("id", "recorded_at"), "config_admin"),
    Projection("config", "conversations", "user_id, conversation_key", (), "config_admin"),
)
# Consumer groups whose work ends in a read model, and the topic each reads.
SETTLING: dict[str, str | tuple[str, ...]] = {
    "identity": "messages.received.v1",
    "responder": "messages.identified.v1",
    "gateway-outcomes": "messages.outcomes.v1",
    # The topics it reads (a topic it does not read, e.g. conversations.owner.v1, would
    # count as lag forever).
    "config-projection": PROJECTED_TOPICS,
}
MONITORING = (
    "/v1/admin/stats/identification",
    "/v1/admin/messages/unassociated?limit=500",
    "/v1/admin/config-coverage?limit=500",
)


async def test_the_message_topics_keep_every_record(stack: Stack) -> None:
    kafka = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        overrides = await topic_overrides(admin, [spec.name for spec in ALL_TOPICS])
    finally:
        await admin.close()
    for spec in ALL_TOPICS:
        assert spec.config.items() <= overrides[spec.name].items(), spec.name
        # The latest per entity (config) and per conversation (its owner) is what counts.
        expected = spec.config.get("cleanup.policy")
        assert overrides[spec.name].get("cleanup.policy") == expected
        if expected is None:
            assert overrides[spec.name]["retention.ms"] == "-1"


async def test_each_read_model_is_rebuilt_from_the_log_identical_to_the_live_one(
    stack: Stack,
) -> None:
    await _traffic(stack)
    await _settled(stack)
    monitoring = await _monitoring(stack)

    for projection in PROJECTIONS:
        before = await _snapshot(stack, projection)
        assert before, f"{projection.table}: the traffic left no rows"
        await _execute(stack, f"TRUNCATE {projection.table}")

        emptied = await _replay(stack, projection.service, "--compare")
        assert emptied.returncode == 1, emptied.stdout + emptied.stderr
        assert f"{projection.table}: DIFFERENT" in emptied.stdout
        assert f"0 only in live, {len(before)} only in rebuilt, 0 changed" in emptied.stdout

        service: ServiceProcess = getattr(stack, projection.service)
        if projection is PROJECTIONS[0]:  # the same command for all: one check will do
            refused = await _replay(stack, projection.service, "--swap")
            assert refused.returncode == 3, refused.stdout + refused.stderr  # writers run
            assert "refusing to swap while the live writers run" in refused.stdout
        service.stop()
        try:
            swapped = await _replay(stack, projection.service, "--swap")
        finally:
            service.start()
            await asyncio.to_thread(service.wait_ready)
        # 0: swapped, and then compared identical with the rebuild
        assert swapped.returncode == 0, swapped.stdout + swapped.stderr
        assert swapped.stdout.strip().count(f"{projection.table}: identical") == 1
        assert swapped.stdout.count(f"not compared: {projection.table}.") == len(projection.ignored)

        assert await _snapshot(stack, projection) == before, projection.table

    assert await _monitoring(stack) == monitoring


async def _traffic(stack: Stack) -> None:
    """API messages and WhatsApp webhooks for two tenants; some found by history, some by
    no one; a provider receipt."""
    tenants = [await _whatsapp_tenant(stack) for _ in range(2)]
    api_calls: list[tuple[str, dict[str, Any]]] = []
    for _, number, _, _ in tenants:
        for customer in (random_number(), random_number()):
            api_calls.append((customer, {"businessPhoneNumber": number}))  # by the config
            api_calls.append((customer, {}))  # by the history: the customer's last tenant
    api_calls += [(random_number(), {}) for _ in range(3)]  # nobody's customer
    for customer, extra in api_calls:
        answer = await stack.chat(customer, f"replay {uuid.uuid4()}", **extra)
        assert answer.status_code in (200, 503), answer.text  # 503: no config for nobody's

    customers = []
    for _, number, number_id, secret in tenants:
        for customer in (random_number(), random_number()):
            customers.append(customer)
            for n in range(2):
                body = whatsapp_payload(
                    number_id, number, [text_message(customer, f"wa {n} {uuid.uuid4()}")]
                )
                assert (await _post(stack, body, meta_signature(body, secret))).status_code == 200
    await _until(lambda: _replied(stack, customers, 2), lambda done: done, "WhatsApp replies sent")
    receipt = whatsapp_payload(
        tenants[0][2],
        tenants[0][1],
        statuses=[{"id": wamid(), "status": "read", "timestamp": "1", "recipient_id": "1555"}],
    )
    assert (await _post(stack, receipt, meta_signature(receipt, tenants[0][3]))).status_code == 200


async def _whatsapp_tenant(stack: Stack) -> tuple[uuid.UUID, str, str, str]:
    user_id, number, number_id = uuid.uuid4(), random_number(), f"PN{uuid.uuid4().hex[:12]}"
    secret = f"app-secret-{uuid.uuid4().hex}"
    await stack.put_whatsapp(user_id, number, number_id, app_secret=secret)
    await stack.put_groq(user_id, f"gsk_replay_{uuid.uuid4().hex}")
    return user_id, number, number_id, secret


async def _post(stack: Stack, body: bytes, signature: str) -> httpx.Response:
    headers = {"content-type": "application/json", "x-hub-signature-256": signature}
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        return await client.post("/webhooks/whatsapp", content=body, headers=headers)


async def _replied(stack: Stack, customers: list[str], each: int) -> bool:
    sent = [r["body"].get("to") for r in await stack.fake_requests(stack.fake_graph)]
    return all(sent.count(c.removeprefix("+")) >= each for c in customers)


async def _settled(stack: Stack) -> None:
    """Every group whose work ends in a read model has committed up to the end of its
    topic, twice in a row (a delivery's own event may follow its reply)."""
    kafka = stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"]
    streak = 0
    deadline = time.monotonic() + 90
    while streak < 2:
        streak = streak + 1 if await lag(kafka, SETTLING) == 0 else 0
        assert time.monotonic() < deadline, "the consumers did not catch up"
        await asyncio.sleep(0.5)


async def _until(probe: Any, ok: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok(await probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def _snapshot(stack: Stack, projection: Projection) -> list[dict[str, Any]]:
    async with engine_for(stack.database_url) as engine, engine.begin() as connection:
        if projection.read_role:
            await connection.execute(
                text("SELECT set_config('role', :r, true)"), {"r": projection.read_role}
            )
        result = await connection.execute(
            text(f"SELECT * FROM {projection.table} ORDER BY {projection.key}")  # noqa: S608
        )
        return [
            {k: v for k, v in row.items() if k not in projection.ignored}
            for row in result.mappings()
        ]


async def _execute(stack: Stack, sql: str) -> None:
    async with engine_for(stack.database_url) as engine, engine.begin() as connection:
        await connection.execute(text(sql))


async def _replay(stack: Stack, service: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.gateway.env["KAFKA_BOOTSTRAP_SERVERS"],
        "DATABASE_URL": stack.database_url,
    }
    command = [sys.executable, "-m", f"services.{service}.entrypoints.replay", *args]
    return await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def _monitoring(stack: Stack) -> list[Any]:
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        answers = [await client.get(path, headers=stack.admin()) for path in MONITORING]
    assert [a.status_code for a in answers] == [200] * len(MONITORING)
    return [a.json() for a in answers]
