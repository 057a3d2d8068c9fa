"""Builds the gateway: the only wiring point, nothing happens at import time."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text

from services.gateway.adapters.api_outcomes import ApiOutcomes
from services.gateway.adapters.echoes import EchoRecorder
from services.gateway.adapters.inbound import InboundStore
from services.gateway.adapters.inbound_times import InboundTimes
from services.gateway.adapters.outbound_sends import OutboundSends
from services.gateway.adapters.outcomes import OutcomeListener, OutcomeWaiters
from services.gateway.adapters.providers import ProviderClient
from services.gateway.adapters.tables import gateway_outbox
from services.gateway.domain.conversation_settings import ConversationSettingsView
from services.gateway.domain.pacing import NumberGate
from services.gateway.entrypoints.chatbot import router as chatbot_router
from services.gateway.entrypoints.deps import GatewayComponents
from services.gateway.entrypoints.outcomes import (
    GROUP,
    GatewayOutcomes,
    RecordApiOutcomes,
    parse_outcome,
)
from services.gateway.entrypoints.reply_sender import ReplySender, SenderSettings
from services.gateway.entrypoints.typing_indicators import IndicatorSettings, TypingIndicators
from services.gateway.entrypoints.webhooks import router as webhooks_router
from services.gateway.settings import GatewaySettings
from shared.consumer import ConsumerOptions, KeyedBatchConsumer
from shared.contracts.config_events import ConfigEvent
from shared.contracts.topics import MESSAGE_OUTCOMES
from shared.crypto import SecretBox
from shared.db import Statements, make_sessionmaker
from shared.http_client import pooled_http_client
from shared.http_drain import DrainUnreadBody
from shared.messaging import Publish, broker_publisher
from shared.outbox import Outbox
from shared.owner_feed import OwnerFeed
from shared.service import (
    ServiceApp,
    open_broker,
    open_config_feed,
    open_engine,
    open_owner_feed,
    run_service,
    started,
)
from shared.views.conversation_owners import ConversationOwners
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

SERVICE = "gateway"
# A readiness probe answers within this even when PostgreSQL or Kafka does not.
PROBE_TIMEOUT_S = 1.5


@dataclass
class _Views:
    """What the gateway reads from the config and owner feeds, in process memory."""

    whatsapp: WhatsAppDirectory = field(default_factory=WhatsAppDirectory)
    twilio: TwilioDirectory = field(default_factory=TwilioDirectory)
    conversations: ConversationSettingsView = field(default_factory=ConversationSettingsView)
    owners: ConversationOwners = field(default_factory=ConversationOwners)
    owner_feeds: list[OwnerFeed] = field(default_factory=list)  # set at start; for readiness

    def apply_config(self, event: ConfigEvent) -> None:
        self.whatsapp.apply(event)
        self.twilio.apply(event)
        self.conversations.apply(event)


def build_app(settings: GatewaySettings) -> FastAPI:
    views = _Views()

    async def start(stack: AsyncExitStack) -> GatewayComponents:
        return await _start(stack, settings, views)

    app = ServiceApp(
        SERVICE,
        start,
        checks={
            "outcomes": lambda c: c.listener.alive and c.outcomes.alive,
            "config": lambda c: c.feed.alive,
            "owners": lambda c: all(feed.alive for feed in views.owner_feeds),
            "database": database_answers,
            "broker": lambda c: c.broker.ping(PROBE_TIMEOUT_S),
        },
        details=lambda c: {
            "config_version": c.feed.version,
            "owner_changes": sum(feed.applied for feed in views.owner_feeds),
        },
        routers=[chatbot_router, webhooks_router],
        public_api=True,
        description="Provider webhooks in, replies out; the seed's api-chatbot endpoint.",
    ).build()
    _add_middleware(app, settings)
    return app


async def _start(
    stack: AsyncExitStack, settings: GatewaySettings, views: _Views
) -> GatewayComponents:
    """The components in start order; each registers its stop (run in reverse)."""
    engine = await open_engine(stack, settings)
    statements = Statements(engine)
    broker = await open_broker(stack, settings, SERVICE)
    box = SecretBox(settings.secrets_key.get_secret_value())
    feed = await open_config_feed(stack, settings, views.apply_config)
    views.owner_feeds.append(await open_owner_feed(stack, settings, views.owners.apply))
    waiters = OutcomeWaiters()
    listener = await started(stack, OutcomeListener(settings.kafka_bootstrap_servers, waiters))
    outbox = Outbox(gateway_outbox, make_sessionmaker(engine), broker)
    outbox.start_relay()
    stack.push_async_callback(outbox.stop_relay)
    provider = ProviderClient(_http_client(stack, settings))
    typing = _typing_indicators(stack, settings, views, provider, box)
    sender = _reply_sender(settings, views, statements, provider, box, broker_publisher(broker))
    consumer = KeyedBatchConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=[MESSAGE_OUTCOMES.name],
        group_id=GROUP,
        parse=parse_outcome,
        handler=GatewayOutcomes(RecordApiOutcomes(ApiOutcomes(statements)), sender, typing),
        options=ConsumerOptions(max_backoff_s=1.0),
    )
    return GatewayComponents(
        settings=settings,
        secret_box=box,
        whatsapp=views.whatsapp,
        twilio=views.twilio,
        inbound=InboundStore(outbox, EchoRecorder(views.whatsapp, views.conversations), statements),
        waiters=waiters,
        engine=engine,
        broker=broker,
        feed=feed,
        listener=listener,
        outcomes=await started(stack, consumer),
    )


def _http_client(stack: AsyncExitStack, settings: GatewaySettings) -> httpx.AsyncClient:
    # As many idle connections as there can be sends in flight (the consumer's 64):
    # with a default of 20, every burst closed and reopened the rest.
    http = pooled_http_client(settings.delivery_timeout_s, max_connections=100)
    stack.push_async_callback(http.aclose)
    return http


def _typing_indicators(
    stack: AsyncExitStack,
    settings: GatewaySettings,
    views: _Views,
    provider: ProviderClient,
    box: SecretBox,
) -> TypingIndicators:
    typing = TypingIndicators(
        provider,
        views.whatsapp,
        views.twilio,
        box,
        views.conversations,
        views.owners,
        IndicatorSettings(
            graph_url=settings.whatsapp_graph_url,
            graph_version=settings.whatsapp_graph_version,
            twilio_messaging_url=settings.twilio_messaging_url,
            refresh_s=settings.typing_refresh_s,
        ),
    )
    stack.push_async_callback(typing.close)  # before the HTTP client closes
    return typing


def _reply_sender(
    settings: GatewaySettings,
    views: _Views,
    statements: Statements,
    provider: ProviderClient,
    box: SecretBox,
    publish: Publish,
) -> ReplySender:
    return ReplySender(
        store=OutboundSends(statements, lease=timedelta(seconds=settings.delivery_lease_s)),
        provider=provider,
        whatsapp=views.whatsapp,
        twilio=views.twilio,
        box=box,
        publish=publish,
        settings=SenderSettings(
            graph_url=settings.whatsapp_graph_url,
            graph_version=settings.whatsapp_graph_version,
            twilio_url=settings.twilio_api_url,
            max_attempts=settings.delivery_max_attempts,
            lease_s=settings.delivery_lease_s,
            twilio_status_callback=settings.status_callback_url(),
        ),
        owners=views.owners,
        conversations=views.conversations,
        accepted=InboundTimes(statements),
        gate=NumberGate(settings.whatsapp_send_rate_per_s),
    )


def _add_middleware(app: FastAPI, settings: GatewaySettings) -> None:
    # The settings UI (another origin: the config service) sends test messages here. The
    # endpoint takes a bearer key and never a cookie, so any origin may ask; without a key
    # it gains nothing.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["X-Trace-Id"],
    )
    # Last, so outermost: whatever answered early, the client may finish sending and read it.
    app.add_middleware(DrainUnreadBody, max_bytes=settings.gateway_drain_max_bytes)


async def database_answers(components: GatewayComponents) -> bool:
    async def select_one() -> None:
        async with components.engine.connect() as connection:
            await connection.execute(text("select 1"))

    # Shielded: a connect or statement cancelled half-way can leave a broken connection
    # in the pool; a slow one finishes in the background instead.
    await asyncio.wait_for(asyncio.shield(select_one()), PROBE_TIMEOUT_S)
    return True


def run() -> None:
    run_service(SERVICE, GatewaySettings, build_app, lambda s: s.gateway_port)
