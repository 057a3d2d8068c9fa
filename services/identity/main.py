"""Builds the identity service: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI

from services.identity.adapters.history import CustomerHistory
from services.identity.entrypoints.consumers import IdentifyMessages, parse_received
from services.identity.settings import IdentitySettings
from shared.config_feed import ConfigFeed
from shared.consumer import ConsumerOptions, KeyedBatchConsumer
from shared.contracts.config_events import ConfigEvent
from shared.contracts.messages import MessageReceived
from shared.contracts.topics import MESSAGES_RECEIVED
from shared.db import Statements
from shared.messaging import broker_publisher
from shared.service import (
    ServiceApp,
    open_broker,
    open_config_feed,
    open_engine,
    run_service,
    started,
)
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

SERVICE = "identity"


@dataclass(frozen=True)
class IdentityComponents:
    feed: ConfigFeed
    consumer: KeyedBatchConsumer[MessageReceived]


def build_app(settings: IdentitySettings) -> FastAPI:
    whatsapp, twilio = WhatsAppDirectory(), TwilioDirectory()

    def apply_config(event: ConfigEvent) -> None:
        whatsapp.apply(event)
        twilio.apply(event)

    async def start(stack: AsyncExitStack) -> IdentityComponents:
        engine = await open_engine(stack, settings)
        broker = await open_broker(stack, settings, SERVICE)
        feed = await open_config_feed(stack, settings, apply_config)
        handler = IdentifyMessages(
            whatsapp=whatsapp,
            twilio=twilio,
            history=CustomerHistory(Statements(engine)),
            history_window=timedelta(days=settings.identity_history_days),
            publish=broker_publisher(broker),
        )
        consumer = KeyedBatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[MESSAGES_RECEIVED.name],
            group_id=SERVICE,
            parse=parse_received,
            handler=handler,
            options=ConsumerOptions(max_in_flight=settings.identity_max_in_flight),
        )
        return IdentityComponents(feed, await started(stack, consumer))

    return ServiceApp(
        SERVICE,
        start,
        checks={"consumer": lambda c: c.consumer.alive, "config": lambda c: c.feed.alive},
        details=lambda c: {"config_version": c.feed.version},
    ).build()


def run() -> None:
    run_service(SERVICE, IdentitySettings, build_app, lambda s: s.identity_port)
