"""Builds the gateway: the only wiring point, nothing happens at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from services.gateway.adapters.deliveries import DeliveryStore
from services.gateway.adapters.inbound import InboundStore
from services.gateway.adapters.outcomes import OutcomeListener, OutcomeWaiters
from services.gateway.adapters.providers import ProviderClient
from services.gateway.adapters.tables import gateway_outbox
from services.gateway.api import router
from services.gateway.delivery import ReplyDispatcher
from services.gateway.handlers import OutcomeRecorder
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks import router as webhooks_router
from shared.config_feed import ConfigFeed
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, per_record, raw_record
from shared.contracts.config_events import ConfigEvent
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.crypto import SecretBox
from shared.db import Statements, make_engine, make_sessionmaker
from shared.http_drain import DrainUnreadBody
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.ops import add_http_metrics, config_version_details, ops_router
from shared.outbox import Outbox
from shared.server import serve
from shared.settings import load_settings
from shared.telemetry import configure_tracing, instrument_fastapi, shutdown_tracing
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

SERVICE = "gateway"


def build_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size)
        sessions = make_sessionmaker(engine)
        statements = Statements(engine)
        broker = make_broker(settings.kafka_bootstrap_servers, client_id=SERVICE)
        await broker.connect()
        secret_box = SecretBox(settings.secrets_key.get_secret_value())
        whatsapp, twilio = WhatsAppDirectory(), TwilioDirectory()

        def apply_config(event: ConfigEvent) -> None:
            whatsapp.apply(event)
            twilio.apply(event)

        feed = ConfigFeed(settings.kafka_bootstrap_servers, apply_config)
        await feed.start()
        waiters = OutcomeWaiters()
        listener = OutcomeListener(settings.kafka_bootstrap_servers, waiters)
        await listener.start()
        outbox = Outbox(gateway_outbox, sessions, broker)
        inbound = InboundStore(sessions, outbox, statements)
        record_outcome = OutcomeRecorder(inbound)
        recorder = KeyedBatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[MESSAGE_OUTCOMES.name],
            group_id=SERVICE,
            parse=raw_record,
            handler=per_record(lambda item: record_outcome(item.record)),
        )
        await recorder.start()
        # Keep as many idle connections as there can be sends in flight (the dispatcher's
        # 64): with httpx's default of 20, every burst closed and reopened the rest.
        http = httpx.AsyncClient(
            timeout=settings.delivery_timeout_s,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )
        dispatch = ReplyDispatcher(
            store=DeliveryStore(statements, lease=timedelta(seconds=settings.delivery_lease_s)),
            client=ProviderClient(http, settings.delivery_max_attempts),
            whatsapp=whatsapp,
            twilio=twilio,
            box=secret_box,
            broker=broker,
            settings=settings,
        )
        dispatcher = KeyedBatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[MESSAGE_OUTCOMES.name],
            group_id=f"{SERVICE}-delivery",
            parse=raw_record,
            handler=per_record(lambda item: dispatch(item.record)),
            options=ConsumerOptions(max_attempts=20, max_backoff_s=5.0, max_batch=1),
        )
        await dispatcher.start()
        outbox.start_relay()
        app.state.settings = settings
        app.state.engine = engine
        app.state.waiters = waiters
        app.state.listener = listener
        app.state.recorder = recorder
        app.state.outbox = outbox
        app.state.inbound = inbound
        app.state.feed = feed
        app.state.dispatcher = dispatcher
        app.state.secret_box = secret_box
        app.state.whatsapp = whatsapp
        app.state.twilio = twilio
        try:
            yield
        finally:
            await outbox.stop_relay()
            await asyncio.gather(dispatcher.stop(), recorder.stop())
            await http.aclose()
            await listener.stop()
            await feed.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Gateway",
        version="1",
        description="Provider webhooks in, replies out; the seed's api-chatbot endpoint.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(webhooks_router)

    async def listening() -> bool:
        state = app.state
        return bool(
            state.listener.alive
            and state.recorder.alive
            and state.dispatcher.alive
            and state.feed.alive
        )

    async def database_ready() -> bool:
        from sqlalchemy import text

        async with app.state.engine.connect() as connection:
            await connection.execute(text("select 1"))
        return True

    app.include_router(
        ops_router({"outcomes": listening, "database": database_ready}, config_version_details(app))
    )
    add_http_metrics(app)
    instrument_fastapi(app)
    # Last, so outermost: whatever answered early, the client may finish sending and read it.
    app.add_middleware(DrainUnreadBody, max_bytes=settings.gateway_drain_max_bytes)
    return app


def run() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging(SERVICE, settings.log_format, settings.log_level)
    configure_tracing(SERVICE)
    try:
        serve(build_app(settings), settings.gateway_port)
    finally:
        shutdown_tracing()
