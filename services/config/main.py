"""Builds the config service: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy import text

from services.config.adapters.tables import config_outbox
from services.config.api import router
from services.config.settings import ConfigSettings
from shared.crypto import SecretBox
from shared.db import make_engine, make_sessionmaker
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.ops import add_http_metrics, ops_router
from shared.outbox import Outbox
from shared.server import serve
from shared.settings import load_settings
from shared.telemetry import configure_tracing, shutdown_tracing

SERVICE = "config"


def build_app(settings: ConfigSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size)
        broker = make_broker(settings.kafka_bootstrap_servers, client_id=SERVICE)
        await broker.connect()
        app.state.settings = settings
        app.state.secret_box = SecretBox(settings.secrets_key.get_secret_value())
        app.state.sessions = make_sessionmaker(engine)
        app.state.outbox = Outbox(config_outbox, app.state.sessions, broker)
        app.state.outbox.start_relay()
        app.state.engine = engine
        try:
            yield
        finally:
            await app.state.outbox.stop_relay()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Config API",
        version="1",
        description="Groq and WhatsApp settings per tenant, the system fallback, monitoring.",
        lifespan=lifespan,
    )
    app.include_router(router)

    async def database_ready() -> bool:
        async with app.state.engine.connect() as connection:
            await connection.execute(text("select 1"))
        return True

    app.include_router(ops_router({"database": database_ready}))
    add_http_metrics(app)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app


def run() -> None:
    settings = load_settings(ConfigSettings)
    configure_logging(SERVICE, settings.log_format, settings.log_level)
    configure_tracing(SERVICE)
    try:
        serve(build_app(settings), settings.config_port)
    finally:
        shutdown_tracing()
