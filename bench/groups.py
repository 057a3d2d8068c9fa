"""Consumer groups as the broker sees them: wait until a replica that just started has
joined (no group rebalancing any more), and how many members each group has.

Only Kafka's own view (ListGroups, DescribeGroups), so it does not depend on what the
services call their groups."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DescribeGroupsRequest_v3, DescribeGroupsResponse_v3

# aiokafka 0.14 decodes a DescribeGroups v3 answer with the v2 schema (it lacks the v3
# field authorized_operations), so against Kafka >= 2.3 every answer fails to parse and
# the connection is dropped. Only this process (the bench) is patched, not the services.
if DescribeGroupsRequest_v3.RESPONSE_TYPE is not DescribeGroupsResponse_v3:
    DescribeGroupsRequest_v3.RESPONSE_TYPE = DescribeGroupsResponse_v3


def _members(described: dict[str, Any]) -> tuple[str, str, int]:
    name = str(described.get("group") or described.get("group_id") or "")
    state = str(described.get("state") or described.get("group_state") or "")
    return name, state, len(described.get("members") or [])


async def describe(admin: AIOKafkaAdminClient) -> dict[str, tuple[str, int]]:
    """group → (state, members)."""
    listed = await admin.list_consumer_groups()
    names = sorted({str(entry[0]) for entry in listed})
    if not names:
        return {}
    out: dict[str, tuple[str, int]] = {}
    for response in await admin.describe_consumer_groups(names):
        for described in response.to_object()["groups"]:
            name, state, members = _members(described)
            out[name] = (state, members)
    return out


async def wait_stable(
    servers: str, *, settle_s: float = 3.0, timeout_s: float = 90.0
) -> dict[str, Any]:
    """Poll until every consumer group with members is Stable and nothing changed for
    `settle_s` (a joining consumer rebalances its group, sometimes twice); returns
    group → members and whether the deadline came first."""
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=15000)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        last: dict[str, tuple[str, int]] = {}
        since = time.monotonic()
        while True:
            now = await describe(admin)
            if now != last:
                last, since = now, time.monotonic()
            settled = all(state == "Stable" for state, members in now.values() if members)
            if settled and time.monotonic() - since >= settle_s:
                timed_out = False
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    return {
        "members": {name: members for name, (_, members) in sorted(last.items())},
        "states": {name: state for name, (state, _) in sorted(last.items())},
        "timed_out": timed_out,
    }
