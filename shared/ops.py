"""/healthz, /readyz and /metrics, the same on every service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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


def add_http_metrics(app: FastAPI) -> None:
    """Request count and latency per route template (never per raw path: bounded labels)."""

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            if template not in ("/metrics", "/healthz", "/readyz"):
                HTTP_REQUESTS.labels(request.method, template, str(status)).inc()
                HTTP_SECONDS.labels(request.method, template).observe(time.perf_counter() - started)


def alive_check(app: FastAPI, attribute: str) -> ReadinessCheck:
    """Ready while the component stored as `app.state.<attribute>` reports `alive`."""

    async def check() -> bool:
        component = getattr(app.state, attribute, None)
        return bool(component is not None and component.alive)

    return check


def config_version_details(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The offset of the last config change applied (tests and operators wait on it)."""

    def details() -> dict[str, Any]:
        feed = getattr(app.state, "feed", None)
        return {"config_version": feed.version if feed is not None else None}

    return details


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
