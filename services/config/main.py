"""Builds the config service: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import text

from services.config.adapters.outbox import make_config_outbox
from services.config.adapters.projection_store import MessageEventStore
from services.config.adapters.tenancy import DbRole, role_sessions
from services.config.api import errors
from services.config.api.deps import ApiDeps
from services.config.domain.projection import ProjectedEvent
from services.config.entrypoints import (
    admin_api,
    api,
    conversations_api,
    keys_api,
    limits_api,
    usage_api,
)
from services.config.entrypoints.key_health_wiring import start_key_health
from services.config.entrypoints.projector import projection_consumer, stop_within
from services.config.entrypoints.ui import mount_ui
from services.config.settings import ConfigSettings
from shared.consumer import KeyedBatchConsumer
from shared.crypto import SecretBox
from shared.service import ServiceApp, open_broker, open_engine, run_service

SERVICE = "config"
TRACE_HEADER = "X-Trace-Id"
PROJECTION_STOP_S = 10.0


@dataclass(frozen=True)
class ConfigComponents(ApiDeps):
    """What the routes see (ApiDeps), and the projection consumer."""

    projection: KeyedBatchConsumer[ProjectedEvent]


async def _database_ready(components: ConfigComponents) -> bool:
    async with components.engine.connect() as connection:
        await connection.execute(text("select 1"))
    return True


def build_app(settings: ConfigSettings) -> FastAPI:
    async def start(stack: AsyncExitStack) -> ConfigComponents:
        engine = await open_engine(stack, settings)
        broker = await open_broker(stack, settings, SERVICE)
        worker_sessions = role_sessions(engine, DbRole.WORKER)
        outbox = make_config_outbox(worker_sessions, broker)
        outbox.start_relay()
        stack.push_async_callback(outbox.stop_relay)
        projection = projection_consumer(
            settings.kafka_bootstrap_servers,
            MessageEventStore(worker_sessions),
            settings.projection_max_in_flight,
        )
        await projection.start()
        stack.push_async_callback(stop_within, projection, PROJECTION_STOP_S)
        box = SecretBox(settings.secrets_key.get_secret_value())
        await start_key_health(stack, settings, outbox, box)
        return ConfigComponents(settings, box, engine, outbox, projection)

    app = ServiceApp(
        "Config API",
        start,
        checks={"database": _database_ready, "projection": lambda c: c.projection.alive},
        routers=[
            api.router,
            conversations_api.router,
            admin_api.router,
            keys_api.router,
            usage_api.router,
            limits_api.router,
        ],
        public_api=True,
        trace_header=TRACE_HEADER,
        description="Groq, WhatsApp and Twilio settings per tenant, conversation and media "
        "settings, conversation owners (bot / human / paused), Groq key pools and usage, "
        "the system fallback, "
        "monitoring, message timelines and the audit log.",
    ).build()
    errors.install(app)
    mount_ui(app)
    return app


def run() -> None:
    run_service(SERVICE, ConfigSettings, build_app, lambda s: s.config_port)
