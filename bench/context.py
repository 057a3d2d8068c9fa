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
from bench.monitor import RssSampler
from bench.rawhttp import Pool
from bench.stack import Stack
from bench.tenants import Tenant
from bench.webhook import Message, conversations

CONNECTIONS = 64


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
        return await fakes.deliveries_done(self.http, self.stack.gateway.url)

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
    ) -> tuple[list[Sent], EndToEnd]:
        """Offer the messages, wait for their replies at the fake Graph, correlate."""
        await self.reset_fakes(delay)
        before = await self.deliveries()
        sent = await open_loop(self.pool, messages, rate, send_timeout_s)
        acked = sum(1 for entry in sent if entry.status == 200)
        await self.wait_deliveries(before + acked, drain_timeout_s)
        await asyncio.sleep(grace_s)  # a duplicate send would show up here
        graph = await fakes.graph_sends(self.http, self.stack.graph.url)
        model = await fakes.model_delays(self.http, self.stack.groq.url, delay)
        return sent, end_to_end(sent, graph, model, rate)
