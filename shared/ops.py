"""/healthz, /readyz and /metrics, the same on every service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.telemetry import current_trace_id

ReadinessCheck = Callable[[], Awaitable[bool]]

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class HttpMetricsMiddleware:
    """Request count and latency per route template (never per raw path: bounded labels),
    and optionally the trace id as a response header. Plain ASGI: Starlette's
    BaseHTTPMiddleware costs a task group and memory streams per request."""

    def __init__(self, app: ASGIApp, trace_header: str | None = None) -> None:
        self.app = app
        self.trace_header = trace_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_measured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self.trace_header:
                    MutableHeaders(scope=message)[self.trace_header] = current_trace_id() or ""
            await send(message)

        try:
            await self.app(scope, receive, send_measured)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            if template not in ("/metrics", "/healthz", "/readyz"):
                method = scope["method"]
                HTTP_REQUESTS.labels(method, template, str(status)).inc()
                HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)


def add_http_metrics(app: FastAPI, trace_header: str | None = None) -> None:
    app.add_middleware(HttpMetricsMiddleware, trace_header=trace_header)


def ops_router(
    checks: dict[str, ReadinessCheck], details: Callable[[], dict[str, Any]] | None = None
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = await check()
            except Exception:
                results[name] = False
        ready = all(results.values())
        body: dict[str, Any] = {"ready": ready, "checks": results}
        if details:
            body.update(details())
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
