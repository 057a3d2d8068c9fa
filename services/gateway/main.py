"""Builds the gateway: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from services.gateway.adapters.inbound import InboundStore
from services.gateway.adapters.outcomes import OutcomeListener, OutcomeWaiters
from services.gateway.adapters.tables import gateway_outbox
from services.gateway.api import router
from services.gateway.handlers import OutcomeRecorder
from services.gateway.settings import GatewaySettings
from shared.consumer import KeyedConcurrentConsumer
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.db import make_engine, make_sessionmaker
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.ops import ops_router
from shared.outbox import Outbox
from shared.server import serve
from shared.settings import load_settings
from shared.telemetry import configure_tracing, shutdown_tracing

SERVICE = "gateway"


def build_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size)
        sessions = make_sessionmaker(engine)
        broker = make_broker(settings.kafka_bootstrap_servers, client_id=SERVICE)
        await broker.connect()
        waiters = OutcomeWaiters()
        listener = OutcomeListener(settings.kafka_bootstrap_servers, waiters)
        await listener.start()
        outbox = Outbox(gateway_outbox, sessions, broker)
        inbound = InboundStore(sessions, outbox)
        recorder = KeyedConcurrentConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=MESSAGE_OUTCOMES.name,
            group_id=SERVICE,
            handler=OutcomeRecorder(inbound),
        )
        await recorder.start()
        outbox.start_relay()
        app.state.settings = settings
        app.state.engine = engine
        app.state.waiters = waiters
        app.state.listener = listener
        app.state.recorder = recorder
        app.state.outbox = outbox
        app.state.inbound = inbound
        try:
            yield
        finally:
            await outbox.stop_relay()
            await recorder.stop()
            await listener.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Gateway",
        version="1",
        description="Provider webhooks in, replies out; the seed's api-chatbot endpoint.",
        lifespan=lifespan,
    )
    app.include_router(router)

    async def listening() -> bool:
        return bool(app.state.listener.alive and app.state.recorder.alive)

    async def database_ready() -> bool:
        from sqlalchemy import text

        async with app.state.engine.connect() as connection:
            await connection.execute(text("select 1"))
        return True

    app.include_router(ops_router({"outcomes": listening, "database": database_ready}))
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app


def run() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging(SERVICE, settings.log_format, settings.log_level)
    configure_tracing(SERVICE)
    try:
        serve(build_app(settings), settings.gateway_port)
    finally:
        shutdown_tracing()
