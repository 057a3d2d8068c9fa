"""Runs a service's ASGI app with uvicorn; SIGTERM/SIGINT trigger the app's graceful shutdown."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


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
    uvicorn.Server(config).run()
