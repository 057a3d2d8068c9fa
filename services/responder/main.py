"""Builds the responder: the only wiring point, nothing happens at import time."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI

from services.responder.adapters.conversations import SqlConversationStore
from services.responder.adapters.groq_client import GroqGateway
from services.responder.domain.groq_settings import GroqSettingsView
from services.responder.domain.retry import RetryPolicy
from services.responder.domain.tenancy import tenant_group
from services.responder.entrypoints.consumers import (
    AnswerMessages,
    AnswerSettings,
    Inbound,
    parse_inbound,
)
from services.responder.settings import ResponderSettings
from shared.config_feed import ConfigFeed
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, per_record
from shared.contracts.topics import MESSAGES_IDENTIFIED, MESSAGES_MEDIA
from shared.crypto import SecretBox
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

SERVICE = "responder"


@dataclass(frozen=True)
class ResponderComponents:
    feed: ConfigFeed
    consumer: KeyedBatchConsumer[Inbound]


def answer_settings(settings: ResponderSettings) -> AnswerSettings:
    return AnswerSettings(
        system_prompt=settings.responder_system_prompt,
        default_base_url=settings.groq_base_url,
        retry=RetryPolicy(
            budget_s=settings.responder_retry_budget_s,
            max_backoff_s=settings.responder_retry_max_backoff_s,
            api_retries=settings.groq_max_retries,
            api_window_s=settings.responder_api_retry_window_s,
        ),
    )


def build_app(settings: ResponderSettings) -> FastAPI:
    view = GroqSettingsView()

    async def start(stack: AsyncExitStack) -> ResponderComponents:
        engine = await open_engine(stack, settings)
        broker = await open_broker(stack, settings, SERVICE)
        feed = await open_config_feed(stack, settings, view.apply)
        groq = GroqGateway(settings.groq_timeout_s)
        stack.push_async_callback(groq.close)  # after the consumer stopped: stops run reversed
        handler = AnswerMessages(
            view=view,
            store=SqlConversationStore(
                Statements(engine),
                settings.responder_context_messages,
                timedelta(hours=settings.responder_context_hours),
            ),
            groq=groq,
            box=SecretBox(settings.secrets_key.get_secret_value()),
            publish=broker_publisher(broker),
            settings=answer_settings(settings),
        )
        consumer = KeyedBatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[MESSAGES_IDENTIFIED.name, MESSAGES_MEDIA.name],
            group_id=SERVICE,
            parse=parse_inbound,
            # One record per call: a model call takes 0.3 to 30 s, and a batch would hold
            # every conversation in it until its slowest call returned.
            handler=per_record(handler),
            options=ConsumerOptions(
                max_in_flight=settings.responder_max_in_flight,
                max_in_flight_per_group=settings.responder_max_in_flight_per_tenant,
                max_batch=1,
            ),
            group_of=tenant_group,
        )
        return ResponderComponents(feed, await started(stack, consumer))

    return ServiceApp(
        SERVICE,
        start,
        checks={"consumer": lambda c: c.consumer.alive, "config": lambda c: c.feed.alive},
        details=lambda c: {"config_version": c.feed.version},
    ).build()


def run() -> None:
    run_service(SERVICE, ResponderSettings, build_app, lambda s: s.responder_port)
