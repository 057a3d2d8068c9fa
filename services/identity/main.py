"""Builds the identity service: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from services.identity.adapters.history import CustomerHistory
from services.identity.handlers import IdentityHandler
from services.identity.settings import IdentitySettings
from shared.config_feed import ConfigFeed
from shared.consumer import ConsumerOptions, KeyedConcurrentConsumer
from shared.contracts.config_events import ConfigEvent
from shared.contracts.topics import MESSAGES_RECEIVED
from shared.db import Statements, make_engine
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.ops import alive_check, config_version_details, ops_router
from shared.server import serve
from shared.settings import load_settings
from shared.telemetry import configure_tracing, shutdown_tracing
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

SERVICE = "identity"


def build_app(settings: IdentitySettings) -> FastAPI:
    directory = WhatsAppDirectory()
    twilio = TwilioDirectory()

    def apply_config(event: ConfigEvent) -> None:
        directory.apply(event)
        twilio.apply(event)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size)
        broker = make_broker(settings.kafka_bootstrap_servers, client_id=SERVICE)
        await broker.connect()
        feed = ConfigFeed(settings.kafka_bootstrap_servers, apply_config)
        await feed.start()
        handler = IdentityHandler(
            directory=directory,
            twilio=twilio,
            history=CustomerHistory(
                Statements(engine), timedelta(days=settings.identity_history_days)
            ),
            broker=broker,
        )
        consumer = KeyedConcurrentConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=MESSAGES_RECEIVED.name,
            group_id=SERVICE,
            handler=handler,
            options=ConsumerOptions(max_in_flight=settings.identity_max_in_flight),
        )
        await consumer.start()
        app.state.feed = feed
        app.state.consumer = consumer
        try:
            yield
        finally:
            await consumer.stop()
            await feed.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(title="identity", lifespan=lifespan, openapi_url=None)

    checks = {"consumer": alive_check(app, "consumer"), "config": alive_check(app, "feed")}
    app.include_router(ops_router(checks, config_version_details(app)))
    return app


def run() -> None:
    settings = load_settings(IdentitySettings)
    configure_logging(SERVICE, settings.log_format, settings.log_level)
    configure_tracing(SERVICE)
    try:
        serve(build_app(settings), settings.identity_port)
    finally:
        shutdown_tracing()
