"""Issue 12: following a WhatsApp webhook to the Graph call passes at most 20 named stops,
and no layer is entered twice in one request — measured with the real adapters, in one
process.

A *named stop* is a project function (under services/ or shared/) on the chain of calls that
carries the message forward: the project frames on the call stack at each hand-off of the
path, united over the path, distinct by qualified name. The hand-offs are the produce of each
event the next leg consumes (MessageReceived, UserIdentified, ResponseGenerated: the moment
the real Kafka producer is asked to send it) and the Graph API HTTP request of the reply.
Side trips that return before a hand-off (parsing, the signature check, lookups, key
building) are not stops. When a hand-off runs in an asyncio task that project code created
(gather, create_task, a group commit's writer, a consumer's batch), the chain goes on
through the frames that created the task (a task factory records them); a task started
before the request (a consumer's fetch loop, the turn poller) is where its chain begins.
Frames of ours that a framework enters (the route function, the consumer's loop calling a
handler) are stops a reader passes, and count. A layer is `<service>.<folder>`, or for
shared/ a module family (`shared.consumer`, `shared.outbox`, `shared.messaging`, …: with
one `shared` layer every consumer leg would re-enter it, the shared consumer calling a
handler that publishes through shared); no chain leaves a layer and enters it again. The
turn path uses a 300 ms quiet window (the code path of WhatsApp's default, sooner).

The path, each leg fed what the previous one published, read from Kafka by the leg's own
real consumer (`KeyedBatchConsumer`, a group of this test's, skipping other conversations'
records): the gateway's WhatsApp route (httpx ASGI transport) with its inbound store and
outbox (real producer, PostgreSQL); the identity handler with its history store; the
responder's handler with its conversation and turn stores and the real Groq SDK client
against the fake Groq server (a process); the gateway's outcome handler and reply sender
with its delivery store and the real Graph client against the fake Graph server (a process).
The broad count of every function entered stays in tests/unit/test_request_stops.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any, cast

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import make_url, text

from devstack.children import run_bootstrap
from devstack.ports import free_port
from services.gateway import main as gateway_main
from services.gateway.adapters.api_outcomes import ApiOutcomes
from services.gateway.adapters.echoes import EchoRecorder
from services.gateway.adapters.inbound import InboundStore
from services.gateway.adapters.outcomes import OutcomeWaiters
from services.gateway.adapters.providers import ProviderClient
from services.gateway.adapters.tables import gateway_outbox
from services.gateway.entrypoints import webhooks
from services.gateway.entrypoints.deps import GatewayComponents
from services.gateway.entrypoints.outcomes import GatewayOutcomes, RecordApiOutcomes, parse_outcome
from services.gateway.settings import GatewaySettings
from services.identity.adapters.history import CustomerHistory
from services.identity.entrypoints.consumers import IdentifyMessages, parse_received
from services.responder import main as responder_main
from services.responder.adapters.counters import SqlLimitCounters
from services.responder.adapters.groq_client import GroqGateway
from services.responder.adapters.turns import SqlTurnStore
from services.responder.domain.tenancy import tenant_group
from services.responder.entrypoints.answer_common import parse_inbound
from services.responder.entrypoints.key_failover import KeyFailover
from services.responder.entrypoints.limit_guard import LimitGuard
from services.responder.entrypoints.turns import AnswerTurns, TurnPoller
from services.responder.settings import ResponderSettings
from shared.consumer import ConsumerOptions, KeyedBatchConsumer, per_record
from shared.contracts.config_events import GroqConfigChanged, WhatsAppConfigChanged
from shared.contracts.messages import Channel, conversation_key
from shared.contracts.topics import (
    MESSAGE_OUTCOMES,
    MESSAGES_IDENTIFIED,
    MESSAGES_MEDIA,
    MESSAGES_RECEIVED,
    TopicSpec,
)
from shared.crypto import SecretBox
from shared.db import Statements, make_engine, make_sessionmaker
from shared.messaging import broker_publisher, ensure_topics, make_broker
from shared.outbox import Outbox
from shared.views.twilio import TwilioDirectory
from tests.support.processes import ServiceProcess
from tests.support.providers import meta_signature, text_message, whatsapp_payload
from tests.support.stops import Chains, Label, following, reentries

# It publishes identity's and the responder's events itself (runs last).
pytestmark = [pytest.mark.integration, pytest.mark.fabricates_events]

# Issue 12 asks for at most 20 named stops. Measured when this test was written: 31 per
# message and 31 through a turn; 23 and 24 after the simplifications that came with it; 20
# and 20 since the outbox unit, the provider client, the responder's reply and the turn
# poller lost their pass-through hops (the chains are printed on failure, or with
# `pytest -s`). A new stop on the path is a deliberate choice.
STOPS = {False: 20, True: 20}  # turns: stops
TENANT = uuid.uuid4()
NUMBER_ID, NUMBER = f"it{uuid.uuid4().hex[:10]}", "+14155550177"
APP_SECRET = "stops-app-secret"
# The events that carry the message from one leg to the next, and their topics.
HANDED_ON = (
    (MESSAGES_RECEIVED, "MessageReceived"),
    (MESSAGES_IDENTIFIED, "UserIdentified"),
    (MESSAGE_OUTCOMES, "ResponseGenerated"),
)


@pytest.fixture(scope="module")
async def private_topics(bootstrapped: dict[str, str]) -> AsyncIterator[None]:
    """The three topics the path hands on, under names of this module's own while it runs.
    In a whole-suite session the e2e stack's services are still running, consume the real
    topics from their own groups and share the database: they would answer this test's
    messages too (a tenant they do not know) and race its legs for the same rows."""
    originals = [(spec, spec.name) for spec, _ in HANDED_ON]
    run = uuid.uuid4().hex[:8]
    for spec, name in originals:
        object.__setattr__(spec, "name", f"{name}.stops-{run}")  # a frozen TopicSpec
    try:
        await ensure_topics(
            bootstrapped["KAFKA_BOOTSTRAP_SERVERS"],
            tuple(TopicSpec(spec.name, 2) for spec, _ in originals),
        )
        yield
    finally:
        for spec, name in originals:
            object.__setattr__(spec, "name", name)


@pytest.fixture(scope="module")
async def private_database(bootstrapped: dict[str, str]) -> str:
    """A database of this module's own on the suite's server, migrated as the Job does: the
    e2e stack's responders poll the shared one's turns table, and would claim this test's
    turns (and answer them on the real topics) before its own poller does."""
    shared_url = make_url(bootstrapped["DATABASE_URL"])
    name = f"stops_{uuid.uuid4().hex[:8]}"
    admin = make_engine(shared_url.render_as_string(hide_password=False))
    try:
        async with admin.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    url = shared_url.set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(run_bootstrap, bootstrapped["KAFKA_BOOTSTRAP_SERVERS"], url)
    return url


@pytest.fixture(scope="module")
def provider_fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The fake Groq and Graph servers, as the e2e stack runs them (processes)."""
    log_dir: Path = tmp_path_factory.mktemp("stops-fakes")
    fakes = {}
    for name in ("groq", "graph"):
        port = free_port()
        fakes[name] = ServiceProcess(
            f"fake-{name}", f"fakes.{name}", port, {}, log_dir, ["--port", str(port)]
        )
    for fake in fakes.values():
        fake.start()
    try:
        for fake in fakes.values():
            fake.wait_ready(path="/_fake/requests")
        yield {name: fake.url for name, fake in fakes.items()}
    finally:
        for fake in fakes.values():
            fake.stop()


@dataclass
class Legs:
    """The four legs, running; `customers` are the conversations this test follows."""

    app: FastAPI
    graph_url: str
    customers: set[str]

    def key(self, customer: str) -> str:
        return conversation_key(Channel.WHATSAPP, NUMBER_ID, customer)

    def conversation_keys(self) -> set[bytes]:
        return {self.key(c).encode() for c in self.customers}

    async def message(self, customer: str) -> None:
        """One customer message through the webhook, then until its reply reached Graph."""
        self.customers.add(customer)
        body = whatsapp_payload(NUMBER_ID, NUMBER, [text_message(customer, "hello")])
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": meta_signature(body, APP_SECRET),
        }
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post("/webhooks/whatsapp", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        to = customer.lstrip("+")
        async with httpx.AsyncClient(base_url=self.graph_url) as graph:
            for _ in range(300):
                sent = (await graph.get("/_fake/requests")).json()
                if any(_is_reply(r["body"], to) for r in sent):
                    return
                await asyncio.sleep(0.1)
        raise AssertionError(f"no reply reached the Graph API for {customer}")

    def handoffs(self, customer: str) -> dict[Any, Label]:
        """The hand-offs of `customer`'s message."""
        keys, tos = {self.key(customer).encode()}, {customer.lstrip("+")}

        def produced(frame: FrameType) -> str | None:
            topic, key = frame.f_locals.get("topic"), frame.f_locals.get("key")
            event_type = next((e for spec, e in HANDED_ON if spec.name == topic), None)
            if event_type is None or key not in keys:
                return None
            if json.loads(frame.f_locals["value"]).get("event_type") != event_type:
                return None  # e.g. TurnStarted: the typing indicator's, a side path
            return f"produce {event_type}"

        def requested(frame: FrameType) -> str | None:
            request = cast(httpx.Request, frame.f_locals["request"])
            if not str(request.url).startswith(self.graph_url):
                return None  # the Groq SDK's calls go through httpx too
            body = json.loads(request.content or b"{}")
            return "Graph API request" if _is_reply(body, tos) else None

        return {
            AIOKafkaProducer.send.__code__: produced,
            httpx.AsyncClient.send.__code__: requested,
        }


def _is_reply(body: Any, to: str | set[str]) -> bool:
    tos = {to} if isinstance(to, str) else to
    return isinstance(body, dict) and body.get("type") == "text" and body.get("to") in tos


def _skip_others(path: Legs) -> Any:
    return lambda record: record.key not in path.conversation_keys()


@pytest.fixture(params=[False, True], ids=["per-message", "turn"])
async def path(
    request: pytest.FixtureRequest,
    bootstrapped: dict[str, str],
    provider_fakes: dict[str, str],
    private_topics: None,
    private_database: str,
) -> AsyncIterator[Legs]:
    turns: bool = request.param
    kafka, url = bootstrapped["KAFKA_BOOTSTRAP_SERVERS"], private_database
    secrets_key = Fernet.generate_key().decode()
    box = SecretBox(secrets_key)
    group = f"it-stops-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        engine = make_engine(url)
        stack.push_async_callback(engine.dispose)
        broker = make_broker(kafka, client_id=group)
        await broker.connect()
        stack.push_async_callback(broker.stop)
        statements = Statements(engine)
        path = Legs(FastAPI(), provider_fakes["graph"], set())

        # The gateway: the webhook route, its inbound store and outbox.
        gateway_settings = GatewaySettings(
            kafka_bootstrap_servers=kafka,
            database_url=url,
            secrets_key=secrets_key,
            gateway_api_keys="unused-stops-key",
            whatsapp_graph_url=provider_fakes["graph"],
        )
        views = gateway_main._Views()
        views.whatsapp.apply(
            WhatsAppConfigChanged(
                user_id=TENANT,
                phone_number_id=NUMBER_ID,
                display_phone_number=NUMBER,
                is_active=True,
                access_token_encrypted=box.encrypt("tenant-graph-token"),
                app_secret_encrypted=box.encrypt(APP_SECRET),
            )
        )
        outbox = Outbox(gateway_outbox, make_sessionmaker(engine), broker)
        outbox.start_relay()
        stack.push_async_callback(outbox.stop_relay)
        unused = cast(Any, None)  # what only readiness uses
        path.app.include_router(webhooks.router)
        path.app.state.components = GatewayComponents(
            settings=gateway_settings,
            secret_box=box,
            whatsapp=views.whatsapp,
            twilio=views.twilio,
            inbound=InboundStore(
                outbox, EchoRecorder(views.whatsapp, views.conversations), Statements(engine)
            ),
            waiters=OutcomeWaiters(),
            engine=engine,
            broker=broker,
            feed=unused,
            listener=unused,
            outcomes=unused,
        )

        # Identity.
        identify = IdentifyMessages(
            views.whatsapp,
            TwilioDirectory(),
            CustomerHistory(statements),
            timedelta(days=90),
            broker_publisher(broker),
        )
        consumers: list[Any] = [
            KeyedBatchConsumer(
                bootstrap_servers=kafka,
                topics=[MESSAGES_RECEIVED.name],
                group_id=f"{group}-identity",
                parse=parse_received,
                handler=identify,
                skip=_skip_others(path),
            )
        ]

        # The responder, wired as its main.py wires it.
        settings = ResponderSettings(
            kafka_bootstrap_servers=kafka,
            database_url=url,
            secrets_key=secrets_key,
            groq_base_url=provider_fakes["groq"],
            groq_max_retries=0,
            responder_turn_quiet_ms=300 if turns else 0,
            responder_turn_poll_s=0.1,
        )
        responder_views = responder_main._Views(responder_main.turn_settings_view(settings))
        responder_views.groq.apply(
            GroqConfigChanged(
                user_id=TENANT,
                api_key_encrypted=box.encrypt("gsk_tenant"),
                model="llama-3.1-8b-instant",
                temperature=0.3,
            )
        )
        turn_store = SqlTurnStore(
            engine, group, lease=timedelta(seconds=30), media_wait=timedelta(seconds=5)
        )
        groq = GroqGateway(settings.groq_timeout_s)
        stack.push_async_callback(groq.close)
        publish = broker_publisher(broker)
        guard = LimitGuard(
            responder_views.limits, responder_views.groq, SqlLimitCounters(statements)
        )
        calls = responder_main._Calls(groq, box, publish, KeyFailover(groq, box, publish), guard)
        answer = responder_main._message_handler(
            settings, responder_views, engine, turn_store, calls
        )
        responder = KeyedBatchConsumer(
            bootstrap_servers=kafka,
            topics=[MESSAGES_IDENTIFIED.name, MESSAGES_MEDIA.name],
            group_id=f"{group}-responder",
            parse=parse_inbound,
            handler=per_record(answer),
            options=ConsumerOptions(max_batch=1),
            group_of=tenant_group,
            skip=_skip_others(path),
        )
        consumers.append(responder)
        policy = responder_main.turn_policy(settings)
        rv, failover, limits = responder_views, calls.failover, calls.guard
        answer_turns = AnswerTurns(
            turn_store, rv.groq, rv.turn_settings, rv.owners, groq, box, publish, policy
        )
        answer_turns = dataclasses.replace(answer_turns, failover=failover, limits=limits)

        # The gateway's outcomes: the reply sender and the Graph client.
        provider = ProviderClient(gateway_main._http_client(stack, gateway_settings))
        typing = gateway_main._typing_indicators(stack, gateway_settings, views, provider, box)
        sender = gateway_main._reply_sender(
            gateway_settings, views, statements, provider, box, broker_publisher(broker)
        )
        consumers.append(
            KeyedBatchConsumer(
                bootstrap_servers=kafka,
                topics=[MESSAGE_OUTCOMES.name],
                group_id=f"{group}-gateway",
                parse=parse_outcome,
                handler=GatewayOutcomes(RecordApiOutcomes(ApiOutcomes(statements)), sender, typing),
                options=ConsumerOptions(max_backoff_s=1.0),
                skip=_skip_others(path),
            )
        )
        for consumer in consumers:
            await consumer.start()
            stack.push_async_callback(consumer.stop)
        if turns:
            poller = TurnPoller(turn_store, answer_turns, policy, lambda: responder.caught_up)
            await poller.start()
            stack.push_async_callback(poller.stop)
        yield path


def _report(chains: Chains) -> str:
    one_shared = {
        label: layers
        for label, chain in chains.handoffs
        if (layers := reentries(chain, one_shared=True))
    }
    return (
        chains.report()
        + "".join(f"\n  re-entered on '{label}': {r}" for label, r in chains.reentered.items())
        + "".join(
            f"\n  (with shared/ one layer: '{k}' re-enters {v})" for k, v in one_shared.items()
        )
    )


async def test_a_whatsapp_message_reaches_the_graph_call_through_few_stops(
    path: Legs, request: pytest.FixtureRequest
) -> None:
    await path.message(f"+3361{uuid.uuid4().int % 10**7:07d}")  # warm: first-call work

    customer = f"+3361{uuid.uuid4().int % 10**7:07d}"
    path.customers.add(customer)
    with following(path.handoffs(customer)) as chains:
        await path.message(customer)

    print(_report(chains))  # the chain per hand-off (pytest -s, or on failure)
    labels = [label for label, _ in chains.handoffs]
    assert labels[0] == "produce MessageReceived", _report(chains)
    assert labels[-1] == "Graph API request", _report(chains)
    assert set(labels) == {
        "produce MessageReceived",
        "produce UserIdentified",
        "produce ResponseGenerated",
        "Graph API request",
    }, _report(chains)
    assert all(not reentries(chain) for _, chain in chains.handoffs), _report(chains)
    assert len(chains.stops) <= STOPS[request.node.callspec.params["path"]], _report(chains)
