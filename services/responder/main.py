"""Builds the responder: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from services.responder.adapters.conversations import ConversationStore
from services.responder.adapters.groq_client import GroqGateway
from services.responder.domain.groq_settings import GroqSettingsView
from services.responder.handlers import ResponderHandler
from services.responder.settings import ResponderSettings
from shared.config_feed import ConfigFeed
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, per_record, raw_record
from shared.contracts.topics import MESSAGES_IDENTIFIED
from shared.crypto import SecretBox
from shared.db import Statements, make_engine
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.ops import alive_check, config_version_details, ops_router
from shared.server import serve
from shared.settings import load_settings
from shared.telemetry import configure_tracing, shutdown_tracing

SERVICE = "responder"


def build_app(settings: ResponderSettings) -> FastAPI:
    view = GroqSettingsView()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size)
        broker = make_broker(settings.kafka_bootstrap_servers, client_id=SERVICE)
        await broker.connect()
        feed = ConfigFeed(settings.kafka_bootstrap_servers, view.apply)
        await feed.start()
        groq = GroqGateway(settings.groq_timeout_s, settings.groq_max_retries)
        handler = ResponderHandler(
            view=view,
            store=ConversationStore(Statements(engine)),
            groq=groq,
            box=SecretBox(settings.secrets_key.get_secret_value()),
            broker=broker,
            default_base_url=settings.groq_base_url,
            system_prompt=settings.responder_system_prompt,
            context_messages=settings.responder_context_messages,
            context_window=timedelta(hours=settings.responder_context_hours),
        )
        consumer = KeyedBatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[MESSAGES_IDENTIFIED.name],
            group_id=SERVICE,
            parse=raw_record,
            handler=per_record(lambda item: handler(item.record)),
            options=ConsumerOptions(max_in_flight=settings.responder_max_in_flight, max_batch=1),
        )
        await consumer.start()
        app.state.feed = feed
        app.state.consumer = consumer
        try:
            yield
        finally:
            await consumer.stop()
            await feed.stop()
            await groq.close()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(title="responder", lifespan=lifespan, openapi_url=None)

    checks = {"consumer": alive_check(app, "consumer"), "config": alive_check(app, "feed")}
    app.include_router(ops_router(checks, config_version_details(app)))
    return app


def run() -> None:
    settings = load_settings(ResponderSettings)
    configure_logging(SERVICE, settings.log_format, settings.log_level)
    configure_tracing(SERVICE)
    try:
        serve(build_app(settings), settings.responder_port)
    finally:
        shutdown_tracing()
