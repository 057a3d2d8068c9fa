"""Runs a service's ASGI app with uvicorn; SIGTERM/SIGINT trigger the app's graceful shutdown.

On SIGTERM uvicorn stops accepting connections, lets in-flight requests finish (up to
`timeout_graceful_shutdown`), runs the lifespan shutdown (consumers drain their in-flight
records and commit), and then re-raises the signal. The handler installed here turns that
re-raised signal into a normal exit (code 0), so a clean stop is not reported as a kill.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI


def _exit_after_shutdown(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(app: FastAPI, port: int, host: str = "0.0.0.0") -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        lifespan="on",
    )
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    signal.signal(signal.SIGINT, _exit_after_shutdown)
    uvicorn.Server(config).run()
