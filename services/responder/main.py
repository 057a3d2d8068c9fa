"""Builds the responder: the only wiring point, nothing happens at import time."""

from __future__ import annotations

import os
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.adapters.conversations import SqlConversationStore
from services.responder.adapters.counters import SqlLimitCounters
from services.responder.adapters.groq_client import GroqGateway
from services.responder.adapters.turns import SqlTurnStore
from services.responder.domain.groq_settings import GroqSettingsView
from services.responder.domain.limits import LimitsView
from services.responder.domain.retry import RetryPolicy
from services.responder.domain.tenancy import tenant_group
from services.responder.domain.turns import TurnSettings, TurnSettingsView
from services.responder.entrypoints.answer_common import AnswerSettings, Inbound, parse_inbound
from services.responder.entrypoints.consumers import AnswerMessages
from services.responder.entrypoints.key_failover import KeyFailover
from services.responder.entrypoints.limit_guard import LimitGuard
from services.responder.entrypoints.turns import AnswerTurns, TurnPolicy, TurnPoller
from services.responder.settings import ResponderSettings
from shared.config_feed import ConfigFeed
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, per_record
from shared.contracts.config_events import ConfigEvent
from shared.contracts.topics import MESSAGES_IDENTIFIED, MESSAGES_MEDIA
from shared.crypto import SecretBox
from shared.db import Statements
from shared.messaging import Publish, broker_publisher
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

SERVICE = "responder"


@dataclass(frozen=True)
class ResponderComponents:
    feed: ConfigFeed
    owners: OwnerFeed
    consumer: KeyedBatchConsumer[Inbound]
    turns: TurnPoller


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


def turn_policy(settings: ResponderSettings) -> TurnPolicy:
    answer = answer_settings(settings)
    return TurnPolicy(
        system_prompt=answer.system_prompt,
        default_base_url=answer.default_base_url,
        retry=answer.retry,
        context_messages=settings.responder_context_messages,
        context_window=timedelta(hours=settings.responder_context_hours),
        poll_interval_s=settings.responder_turn_poll_s,
        lease_s=settings.responder_turn_lease_s,
        handoff_after_failures=settings.responder_handoff_after_failures,
    )


def turn_settings_view(settings: ResponderSettings) -> TurnSettingsView:
    if settings.responder_turn_quiet_ms is None:
        return TurnSettingsView()
    return TurnSettingsView(TurnSettings(quiet_ms=settings.responder_turn_quiet_ms))


@dataclass
class _Views:
    """What the responder reads from the config and owner feeds, in process memory."""

    turn_settings: TurnSettingsView
    groq: GroqSettingsView = field(default_factory=GroqSettingsView)
    owners: ConversationOwners = field(default_factory=ConversationOwners)
    limits: LimitsView = field(default_factory=LimitsView)

    def apply_config(self, event: ConfigEvent) -> None:
        self.groq.apply(event)
        self.turn_settings.apply(event)
        self.limits.apply(event)


@dataclass(frozen=True)
class _Calls:
    """What the per-message and the per-turn path share: one key pool (its cooldowns), one
    limit guard."""

    groq: GroqGateway
    box: SecretBox
    publish: Publish
    failover: KeyFailover
    guard: LimitGuard


def build_app(settings: ResponderSettings) -> FastAPI:
    views = _Views(turn_settings_view(settings))

    async def start(stack: AsyncExitStack) -> ResponderComponents:
        return await _start(stack, settings, views)

    return ServiceApp(
        SERVICE,
        start,
        checks={
            "consumer": lambda c: c.consumer.alive,
            "config": lambda c: c.feed.alive,
            "owners": lambda c: c.owners.alive,
            "turns": lambda c: c.turns.alive,
        },
        details=lambda c: {"config_version": c.feed.version, "owner_changes": c.owners.applied},
    ).build()


async def _start(
    stack: AsyncExitStack, settings: ResponderSettings, views: _Views
) -> ResponderComponents:
    """The components in start order; each registers its stop (run in reverse)."""
    engine = await open_engine(stack, settings)
    broker = await open_broker(stack, settings, SERVICE)
    feed = await open_config_feed(stack, settings, views.apply_config)
    owner_feed = await open_owner_feed(stack, settings, views.owners.apply)
    box = SecretBox(settings.secrets_key.get_secret_value())
    replica = f"{socket.gethostname()}:{os.getpid()}"[:64]
    turn_store = SqlTurnStore(
        engine,
        replica,
        lease=timedelta(seconds=settings.responder_turn_lease_s),
        media_wait=timedelta(seconds=settings.responder_turn_media_wait_s),
    )
    groq = GroqGateway(settings.groq_timeout_s)
    stack.push_async_callback(groq.close)  # after the consumer stopped: stops run reversed
    publish = broker_publisher(broker)
    guard = LimitGuard(views.limits, views.groq, SqlLimitCounters(Statements(engine)))
    calls = _Calls(groq, box, publish, KeyFailover(groq, box, publish), guard)
    consumer = _consumer(settings, _message_handler(settings, views, engine, turn_store, calls))
    policy = turn_policy(settings)
    answer_turns = AnswerTurns(
        store=turn_store,
        view=views.groq,
        settings=views.turn_settings,
        owners=views.owners,
        groq=groq,
        box=box,
        publish=publish,
        policy=policy,
        failover=calls.failover,
        limits=calls.guard,
    )
    await started(stack, consumer)
    # Stopped before the consumer (stops run reversed): no new turn once it stops.
    poller = await started(
        stack, TurnPoller(turn_store, answer_turns, policy, lambda: consumer.caught_up)
    )
    return ResponderComponents(feed, owner_feed, consumer, poller)


def _message_handler(
    settings: ResponderSettings,
    views: _Views,
    engine: AsyncEngine,
    turn_store: SqlTurnStore,
    calls: _Calls,
) -> AnswerMessages:
    return AnswerMessages(
        view=views.groq,
        store=SqlConversationStore(
            Statements(engine),
            settings.responder_context_messages,
            timedelta(hours=settings.responder_context_hours),
        ),
        groq=calls.groq,
        box=calls.box,
        publish=calls.publish,
        settings=answer_settings(settings),
        turns=turn_store,
        turn_settings=views.turn_settings,
        failover=calls.failover,
        limits=calls.guard,
    )


def _consumer(settings: ResponderSettings, handler: AnswerMessages) -> KeyedBatchConsumer[Inbound]:
    return KeyedBatchConsumer(
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


def run() -> None:
    run_service(SERVICE, ResponderSettings, build_app, lambda s: s.responder_port)
