"""The pooled HTTP client for calls to providers (Graph, Twilio, Groq): httpx's API over
aiohttp's connection pool (`httpx-aiohttp`, the backend the Groq SDK offers as
`DefaultAioHttpClient`).

Why not httpx's own pool: with tens of concurrent requests it cost 2.1-2.8 ms of CPU per
request on our machine, against 0.3-0.6 ms over aiohttp (docs/benchmarks.md, session 6).
The OpenTelemetry client span is kept: the global httpx instrumentation only wraps httpx's
own transport, so this client is instrumented on its own.
"""

from __future__ import annotations

import httpx
from httpx_aiohttp import HttpxAiohttpClient
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor


def pooled_http_client(
    timeout_s: float,
    *,
    max_connections: int = 100,
    transport: httpx.AsyncBaseTransport | None = None,  # tests: an in-memory transport
) -> httpx.AsyncClient:
    if transport is not None:
        return httpx.AsyncClient(transport=transport, timeout=timeout_s)
    client = HttpxAiohttpClient(
        timeout=timeout_s,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    )
    HTTPXClientInstrumentor.instrument_client(client)
    return client
