"""10. Scale out: a second gateway and a second responder as separate OS processes on the
same broker and database (each on its own port through GATEWAY_PORT / RESPONDER_PORT),
then the saturation load of scenario 2 sent to both gateways in turn, so consecutive
messages of one conversation reach different replicas, as behind a load balancer. Every
reply must come exactly once and in order per conversation; the reply rate is reported
beside the single-replica saturation of the same run. The replicas stop afterwards.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bench import fakes
from bench.context import CONNECTIONS, Run
from bench.groups import wait_stable
from bench.monitor import cpu_delta
from bench.procs import Child
from bench.rawhttp import Pool
from bench.scenarios.e2e import INSTANT, per_message
from bench.tenants import wait_config_applied

REPLICATED = ("gateway", "responder")


async def _config_version(http: httpx.AsyncClient, url: str) -> int:
    body = (await http.get(url + "/readyz")).json()
    return int(body.get("config_version") or -1)


async def _start(run: Run) -> list[Child]:
    added = [run.stack.replica(name, 2) for name in REPLICATED]
    for child in added:
        child.start()
    for child in added:
        await asyncio.to_thread(child.wait_ready, 90)
        run.rss.watch(child.name, child.pid)
    # the tenants' configuration, replayed from the config topic by the new processes
    version = await _config_version(run.http, run.stack.gateway.url)
    await wait_config_applied([child.url for child in added], version, timeout=60)
    return added


async def run_scaleout(run: Run) -> dict[str, Any]:
    added: list[Child] = []
    pools: list[Pool] = []
    try:
        added = await _start(run)
        groups = await wait_stable(run.stack.infra.kafka)
        gateways = run.stack.gateways
        pools = [Pool(gateway.port, CONNECTIONS // len(gateways)) for gateway in gateways]
        messages = run.messages(run.scale(10, 5), 10)
        per_gateway_before = [
            await fakes.deliveries_done(run.http, gateway.url) for gateway in gateways
        ]
        before = run.cpu_now()
        sent, result = await run.send_and_collect(
            messages,
            None,
            INSTANT,
            send_timeout_s=120,
            drain_timeout_s=180,
            grace_s=2.0,
            pools=pools,
        )
        used = cpu_delta(before, run.cpu_now())
        per_gateway = {
            gateway.name: {
                "acked": sum(
                    1
                    for i, entry in enumerate(sent)
                    if i % len(gateways) == n and entry.status == 200
                ),
                "replies_sent": round(
                    await fakes.deliveries_done(run.http, gateway.url) - per_gateway_before[n]
                ),
            }
            for n, gateway in enumerate(gateways)
        }
    finally:
        for pool in pools:
            pool.close()
        for child in added:
            await asyncio.to_thread(child.stop)
    # the groups rebalance back onto the remaining processes before anything else runs
    after = await wait_stable(run.stack.infra.kafka)
    return {
        "replicas": {name: 2 for name in REPLICATED},
        "groups": groups,
        "groups_settled_after_stop": not after["timed_out"],
        "per_gateway": per_gateway,
        "e2e": result.as_dict(),
        **per_message(used, result.replies),
    }
