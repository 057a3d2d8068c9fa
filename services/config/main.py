"""Builds the config service: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.config.adapters.compaction import make_config_outbox
from services.config.adapters.projection_store import MessageEventStore
from services.config.adapters.tenancy import DbRole, role_sessions
from services.config.admin_api import router as admin_router
from services.config.api import router
from services.config.projector import Projector
from services.config.settings import ConfigSettings
from shared.crypto import SecretBox
from shared.db import make_engine
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.ops import add_http_metrics, alive_check, ops_router
from shared.server import serve
from shared.settings import load_settings
from shared.telemetry import configure_tracing, instrument_fastapi, shutdown_tracing

SERVICE = "config"
TRACE_HEADER = "X-Trace-Id"


def build_app(settings: ConfigSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size)
        broker = make_broker(settings.kafka_bootstrap_servers, client_id=SERVICE)
        await broker.connect()
        worker_sessions = role_sessions(engine, DbRole.WORKER)
        app.state.settings = settings
        app.state.secret_box = SecretBox(settings.secrets_key.get_secret_value())
        app.state.engine = engine
        app.state.outbox = make_config_outbox(worker_sessions, broker)
        app.state.outbox.start_relay()
        projector = Projector(
            settings.kafka_bootstrap_servers,
            MessageEventStore(worker_sessions),
            settings.projection_max_in_flight,
        )
        await projector.start()
        app.state.projector = projector
        try:
            yield
        finally:
            await projector.stop()
            await app.state.outbox.stop_relay()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Config API",
        version="1",
        description="Groq, WhatsApp and Twilio settings per tenant, the system fallback, "
        "monitoring, message timelines and the audit log.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(admin_router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes each refused input back; a refused input may be a secret (an API
        # key with a stray control character): say where and why, never what.
        errors = [
            {key: error[key] for key in ("type", "loc", "msg") if key in error}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    async def database_ready() -> bool:
        async with app.state.engine.connect() as connection:
            await connection.execute(text("select 1"))
        return True

    checks = {"database": database_ready, "projection": alive_check(app, "projector")}
    app.include_router(ops_router(checks))
    add_http_metrics(app, trace_header=TRACE_HEADER)
    instrument_fastapi(app)
    return app


def run() -> None:
    settings = load_settings(ConfigSettings)
    configure_logging(SERVICE, settings.log_format, settings.log_level)
    configure_tracing(SERVICE)
    try:
        serve(build_app(settings), settings.config_port)
    finally:
        shutdown_tracing()
