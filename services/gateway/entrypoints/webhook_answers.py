"""How every provider webhook answers: counted by provider and status, with the trace id."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from shared.telemetry import current_trace_id

WEBHOOKS = Counter(
    "gateway_webhooks_total", "Provider webhook calls by answer", ["provider", "status"]
)


def traced(provider: str, response: Response) -> Response:
    WEBHOOKS.labels(provider, str(response.status_code)).inc()
    response.headers["X-Trace-Id"] = current_trace_id() or ""
    return response


def problem(provider: str, status: int, error: str) -> Response:
    return traced(provider, JSONResponse({"success": False, "error": error}, status_code=status))
