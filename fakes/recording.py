"""What the provider fakes share: a request log and scripted failures, controlled over HTTP.

POST /_fake/fail {"status": 500, "times": 2, "retry_after": "0"}  -> the next N calls fail
POST /_fake/delay {"seconds": 0.3}                                  -> every call waits
GET  /_fake/requests                                                -> recorded calls
POST /_fake/reset
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class Script:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_status: int | None = None
    fail_times: int = 0
    retry_after: str = "0"
    delay_s: float = 0.0

    async def record(self, request: Request, body: Any) -> JSONResponse | None:
        """Log the call; return the scripted failure, if one is due.

        The delay comes first: a caller that dies while waiting was never answered, and the
        call is not logged as accepted.
        """
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "authorization": request.headers.get("authorization"),
                "traceparent": request.headers.get("traceparent"),
                "body": body,
                "at": time.time(),
            }
        )
        if self.fail_times > 0 and self.fail_status:
            self.fail_times -= 1
            return JSONResponse(
                {"error": {"message": "scripted failure", "code": self.fail_status}},
                status_code=self.fail_status,
                headers={"retry-after": self.retry_after},
            )
        return None


def add_control_routes(app: FastAPI) -> None:
    @app.post("/_fake/fail")
    async def fail(request: Request) -> dict[str, str]:
        body = await request.json()
        script: Script = app.state.script
        script_failure(script, body)
        return {"status": "ok"}

    @app.post("/_fake/delay")
    async def delay(request: Request) -> dict[str, str]:
        app.state.script.delay_s = float((await request.json()).get("seconds", 0))
        return {"status": "ok"}

    add_record_routes(app, "/_fake", "script", Script)


def add_record_routes(app: FastAPI, prefix: str, attr: str, fresh: Callable[[], Any]) -> None:
    """`GET {prefix}/requests` (what `app.state.<attr>` recorded) and `POST {prefix}/reset`
    (a `fresh()` state in its place)."""

    @app.get(f"{prefix}/requests")
    async def recorded() -> list[dict[str, Any]]:
        return list(getattr(app.state, attr).requests)

    @app.post(f"{prefix}/reset")
    async def reset() -> dict[str, str]:
        setattr(app.state, attr, fresh())
        return {"status": "ok"}


def script_failure(target: Any, body: dict[str, Any]) -> None:
    """The next `times` calls answer `status` (with `retry_after`), as `/_fake/fail` asks."""
    target.fail_status = int(body["status"])
    target.fail_times = int(body.get("times", 1))
    target.retry_after = str(body.get("retry_after", 0))


def serve(build_app: Callable[[], FastAPI], description: str | None, port: int) -> None:
    """Run a fake on 127.0.0.1 (`--port` overrides the default)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning")
