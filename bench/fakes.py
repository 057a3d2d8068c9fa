"""The fake Groq and Graph servers (fakes/): control, their records, and progress polling."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from bench.webhook import TEXT_PREFIX

_SENT = re.compile(r'^gateway_deliveries_total\{[^}]*outcome="([a-z_]+)"[^}]*\} ([0-9.e+]+)$', re.M)


@dataclass(frozen=True)
class ModelDelay:
    seconds: float = 0.0
    slow_every: int = 0
    slow_seconds: float = 0.0

    def of_call(self, number: int) -> float:
        """The fake's delay for its `number`-th call since the last reset (fakes/groq.py)."""
        if self.slow_every and number % self.slow_every == self.slow_every - 1:
            return self.slow_seconds
        return self.seconds


@dataclass(frozen=True)
class GraphSend:
    wamid: str
    at: float
    to: str


async def reset(client: httpx.AsyncClient, groq_url: str, graph_url: str) -> None:
    for url in (groq_url, graph_url):
        (await client.post(url + "/_fake/reset")).raise_for_status()


async def set_model_delay(client: httpx.AsyncClient, groq_url: str, delay: ModelDelay) -> None:
    body = {
        "seconds": delay.seconds,
        "slow_every": delay.slow_every,
        "slow_seconds": delay.slow_seconds,
    }
    (await client.post(groq_url + "/_fake/delay", json=body)).raise_for_status()


def _tag(text: str) -> str | None:
    _, found, tail = text.partition("reply to: " + TEXT_PREFIX)
    return tail.strip() if found else None


async def graph_sends(client: httpx.AsyncClient, graph_url: str) -> list[GraphSend]:
    records: list[dict[str, Any]] = (await client.get(graph_url + "/_fake/requests")).json()
    sends = []
    for record in records:
        body = record.get("body") or {}
        wamid = _tag(str((body.get("text") or {}).get("body", "")))
        if wamid is not None:
            sends.append(GraphSend(wamid, float(record["at"]), str(body.get("to", ""))))
    return sends


@dataclass(frozen=True)
class ModelCall:
    """One answered call at the fake Groq: when it started (the fake's clock) and how long
    the fake made it last (its call number decides, see ModelDelay)."""

    started_at: float
    seconds: float


async def model_calls(
    client: httpx.AsyncClient, groq_url: str, delay: ModelDelay
) -> dict[str, ModelCall]:
    """wamid → the fake's call for it."""
    records: list[dict[str, Any]] = (await client.get(groq_url + "/_fake/requests")).json()
    out: dict[str, ModelCall] = {}
    for number, record in enumerate(records):
        messages = (record.get("body") or {}).get("messages") or []
        last = messages[-1].get("content", "") if messages else ""
        if isinstance(last, str) and last.startswith(TEXT_PREFIX):
            out[last.removeprefix(TEXT_PREFIX)] = ModelCall(
                float(record.get("at", 0.0)), delay.of_call(number)
            )
    return out


async def deliveries_done(client: httpx.AsyncClient, gateway_url: str) -> float:
    """Replies the gateway finished (sent or failed), from its Prometheus counter."""
    text = (await client.get(gateway_url + "/metrics")).text
    return sum(float(value) for _, value in _SENT.findall(text))
