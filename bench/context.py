"""What every scenario works with: the running stack, tenants, clients, samplers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import fakes
from bench.analysis import EndToEnd, end_to_end
from bench.dbstats import StatementStats
from bench.fakes import ModelDelay
from bench.load import Sent, open_loop
from bench.monitor import RssSampler, cpu_seconds, own_cpu_seconds
from bench.rawhttp import Pool
from bench.stack import Stack
from bench.tenants import Tenant
from bench.webhook import Message, conversations

CONNECTIONS = 64
LOAD_GENERATOR = "load-generator"  # this process: the senders, the samplers, the analysis


@dataclass
class Run:
    stack: Stack
    tenants: list[Tenant]
    http: httpx.AsyncClient
    pool: Pool
    rss: RssSampler
    stats: StatementStats
    quick: bool
    log_dir: Path
    extra_pids: dict[str, int]
    results: dict[str, Any] = field(default_factory=dict)
    _next_customer: int = 0

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def pids(self) -> dict[str, int]:
        return {**self.stack.pids(), **self.extra_pids}

    def cpu_now(self) -> dict[str, float]:
        """CPU seconds so far of every process of the run, the load generator included."""
        return {**cpu_seconds(self.pids()), LOAD_GENERATOR: own_cpu_seconds()}

    def messages(self, customers_per_tenant: int, per_customer: int) -> list[Message]:
        """Fresh conversations (customers never used before in this run)."""
        first = self._next_customer
        self._next_customer += customers_per_tenant
        return conversations(
            self.tenants,
            self.stack.gateway.port,
            customers_per_tenant=customers_per_tenant,
            messages_per_customer=per_customer,
            first_customer=first,
        )

    async def deliveries(self) -> float:
        """Replies finished by every running gateway replica."""
        done = 0.0
        for gateway in self.stack.gateways:
            done += await fakes.deliveries_done(self.http, gateway.url)
        return done

    async def wait_deliveries(self, target: float, timeout_s: float, stall_s: float = 20) -> float:
        """Wait until the gateway finished `target` deliveries in total, or progress stalls."""
        deadline = time.monotonic() + timeout_s
        last, last_change = -1.0, time.monotonic()
        while time.monotonic() < deadline:
            done = await self.deliveries()
            if done >= target:
                return done
            if done != last:
                last, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                return done
            await asyncio.sleep(0.25)
        return await self.deliveries()

    async def reset_fakes(self, delay: ModelDelay) -> None:
        await fakes.reset(self.http, self.stack.groq.url, self.stack.graph.url)
        await fakes.set_model_delay(self.http, self.stack.groq.url, delay)

    async def send_and_collect(
        self,
        messages: list[Message],
        rate: float | None,
        delay: ModelDelay,
        *,
        send_timeout_s: float,
        drain_timeout_s: float,
        grace_s: float = 0.5,
        pools: list[Pool] | None = None,
    ) -> tuple[list[Sent], EndToEnd]:
        """Offer the messages (to `pools` in turn if given, else to the one gateway), wait
        for their replies at the fake Graph, correlate."""
        await self.reset_fakes(delay)
        before = await self.deliveries()
        sent = await open_loop(pools or self.pool, messages, rate, send_timeout_s)
        acked = sum(1 for entry in sent if entry.status == 200)
        await self.wait_deliveries(before + acked, drain_timeout_s)
        await asyncio.sleep(grace_s)  # a duplicate send would show up here
        graph = await fakes.graph_sends(self.http, self.stack.graph.url)
        model = await fakes.model_calls(self.http, self.stack.groq.url, delay)
        return sent, end_to_end(sent, graph, model, rate)
