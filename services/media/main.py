"""Builds the media service: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from fastapi import FastAPI

from services.media.adapters.download import MediaDownloader
from services.media.adapters.groq_client import GroqClients
from services.media.adapters.transcribe import Transcriber
from services.media.adapters.vision import Vision
from services.media.domain.credentials import GroqKeys
from services.media.domain.policy import MediaPolicies, MediaPolicy
from services.media.entrypoints.consumers import ResolveMedia, parse_identified, without_media
from services.media.settings import MediaSettings
from shared.config_feed import ConfigFeed
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, per_record
from shared.contracts.config_events import ConfigEvent
from shared.contracts.messages import UserIdentified
from shared.contracts.topics import MESSAGES_IDENTIFIED
from shared.crypto import SecretBox
from shared.messaging import Publish, broker_publisher
from shared.service import ServiceApp, open_broker, open_config_feed, run_service, started
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory

SERVICE = "media"


@dataclass(frozen=True)
class MediaComponents:
    feed: ConfigFeed
    consumer: KeyedBatchConsumer[UserIdentified | None]


@dataclass
class _Views:
    """What the media service reads from the config feed, in process memory."""

    policies: MediaPolicies
    whatsapp: WhatsAppDirectory = field(default_factory=WhatsAppDirectory)
    twilio: TwilioDirectory = field(default_factory=TwilioDirectory)
    keys: GroqKeys = field(default_factory=GroqKeys)

    def apply_config(self, event: ConfigEvent) -> None:
        self.whatsapp.apply(event)
        self.twilio.apply(event)
        self.keys.apply(event)
        self.policies.apply(event)


def build_app(settings: MediaSettings) -> FastAPI:
    limit = settings.media_document_text_limit
    views = _Views(MediaPolicies(MediaPolicy(document_text_limit=limit)))

    async def start(stack: AsyncExitStack) -> MediaComponents:
        broker = await open_broker(stack, settings, SERVICE)
        feed = await open_config_feed(stack, settings, views.apply_config)
        consumer = KeyedBatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[MESSAGES_IDENTIFIED.name],
            group_id=SERVICE,
            parse=parse_identified,
            handler=per_record(_handler(stack, settings, views, broker_publisher(broker))),
            options=ConsumerOptions(max_in_flight=settings.media_max_in_flight, max_batch=1),
            skip=without_media,
        )
        return MediaComponents(feed, await started(stack, consumer))

    return ServiceApp(
        SERVICE,
        start,
        checks={"consumer": lambda c: c.consumer.alive, "config": lambda c: c.feed.alive},
        details=lambda c: {"config_version": c.feed.version},
    ).build()


def _handler(
    stack: AsyncExitStack, settings: MediaSettings, views: _Views, publish: Publish
) -> ResolveMedia:
    """The per-message handler with its two HTTP clients, closed after the consumer stops."""
    downloader = MediaDownloader(
        graph_url=settings.whatsapp_graph_url,
        graph_version=settings.whatsapp_graph_version,
        twilio_url=settings.twilio_api_url,
        timeout_s=settings.media_timeout_s,
    )
    stack.push_async_callback(downloader.aclose)
    groq_clients = GroqClients(settings.groq_base_url, settings.media_timeout_s)
    stack.push_async_callback(groq_clients.aclose)
    return ResolveMedia(
        whatsapp=views.whatsapp,
        twilio=views.twilio,
        groq_keys=views.keys,
        box=SecretBox(settings.secrets_key.get_secret_value()),
        downloader=downloader,
        speech=Transcriber(groq_clients),
        vision=Vision(groq_clients),
        publish=publish,
        retry_budget_s=settings.media_retry_budget_s,
        policies=views.policies,
    )


def run() -> None:
    run_service(SERVICE, MediaSettings, build_app, lambda s: s.media_port)
