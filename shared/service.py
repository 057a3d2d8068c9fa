"""One composition root for every service: settings, logging, tracing, an ASGI app whose
lifespan is an `AsyncExitStack`, and the components a service's `main.py` starts on it.

A service's `main.py` writes one `start(stack)` coroutine that builds its components in
order and registers each one's stop on the stack (`stack.push_async_callback`); shutdown
runs them in reverse. What `start` returns is the service's typed container: routes read
it through a typed `Depends` alias (`container`), readiness checks through functions of it.
Nothing is read from `app.state` by name, and nothing connects at import time.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar, cast

from fastapi import APIRouter, FastAPI, Request
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config_feed import ConfigFeed
from shared.contracts.config_events import ConfigEvent
from shared.contracts.conversations import ConversationOwnerChanged
from shared.db import make_engine
from shared.heap import settle_heap
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.ops import ReadinessCheck, add_http_metrics, ops_router
from shared.owner_feed import OwnerFeed
from shared.server import serve
from shared.settings import BaseServiceSettings, load_settings
from shared.telemetry import configure_tracing, instrument_fastapi, shutdown_tracing

C = TypeVar("C")
S = TypeVar("S", bound=BaseServiceSettings)


class Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# A readiness check of a running service: a function of its container, sync or async.
Check = Callable[[C], bool | Awaitable[bool]]


class ServiceApp(Generic[C]):
    """How a service's app is put together; `build()` gives the FastAPI app."""

    def __init__(
        self,
        title: str,
        start: Callable[[AsyncExitStack], Awaitable[C]],
        checks: Mapping[str, Check[C]],
        details: Callable[[C], dict[str, Any]] | None = None,
        routers: Sequence[APIRouter] = (),
        public_api: bool = False,
        trace_header: str | None = None,
        description: str = "",
    ) -> None:
        self.title = title
        self.start = start
        self.checks = checks
        self.details = details
        self.routers = routers
        self.public_api = public_api
        self.trace_header = trace_header
        self.description = description

    def build(self) -> FastAPI:
        running: list[C] = []  # the container, once the lifespan has built it

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with AsyncExitStack() as stack:
                components = await self.start(stack)
                running.append(components)
                app.state.components = components
                try:
                    yield
                finally:
                    running.clear()

        app = FastAPI(
            title=self.title,
            version="1",
            description=self.description,
            lifespan=lifespan,
            openapi_url="/openapi.json" if self.public_api else None,
            # The server span comes from the OpenTelemetry instrumentation (shared/telemetry):
            # FastAPI's own telemetry would only look for it again on every request.
            telemetry={"tracing": False, "metrics": False, "logs": False},
        )
        for router in self.routers:
            app.include_router(router)

        def bound(check: Check[C]) -> ReadinessCheck:
            async def run() -> bool:
                if not running:
                    return False
                answer = check(running[0])
                return bool(await answer if inspect.isawaitable(answer) else answer)

            return run

        def details() -> dict[str, Any]:
            return self.details(running[0]) if running and self.details else {}

        checks = {name: bound(check) for name, check in self.checks.items()}
        app.include_router(ops_router(checks, details))
        if self.public_api:
            add_http_metrics(app, self.trace_header)
            instrument_fastapi(app)
        return app


def container(cls: type[C]) -> Callable[[Request], Awaitable[C]]:
    """A typed dependency: `Deps = Annotated[GatewayComponents, Depends(container(...))]`."""

    # async, although it awaits nothing: FastAPI runs a plain `def` dependency in its
    # thread pool, a thread hop on every request for a field read.
    async def get(request: Request) -> C:
        return cast(C, request.app.state.components)

    return get


# -- components every service starts the same way ------------------------------------------


async def open_engine(stack: AsyncExitStack, settings: BaseServiceSettings) -> AsyncEngine:
    engine = make_engine(settings.database_url, settings.db_pool_size)
    stack.push_async_callback(engine.dispose)
    return engine


async def open_broker(
    stack: AsyncExitStack, settings: BaseServiceSettings, client_id: str
) -> KafkaBroker:
    broker = make_broker(settings.kafka_bootstrap_servers, client_id=client_id)
    await broker.connect()
    stack.push_async_callback(broker.stop)
    return broker


async def open_config_feed(
    stack: AsyncExitStack, settings: BaseServiceSettings, apply: Callable[[ConfigEvent], None]
) -> ConfigFeed:
    feed = ConfigFeed(settings.kafka_bootstrap_servers, apply)
    await feed.start()
    stack.push_async_callback(feed.stop)
    return feed


async def open_owner_feed(
    stack: AsyncExitStack,
    settings: BaseServiceSettings,
    apply: Callable[[ConversationOwnerChanged], None],
) -> OwnerFeed:
    feed = OwnerFeed(settings.kafka_bootstrap_servers, apply)
    await feed.start()
    stack.push_async_callback(feed.stop)
    return feed


T = TypeVar("T", bound=Startable)


async def started(stack: AsyncExitStack, component: T) -> T:
    """Start a component now and stop it when the service stops (in reverse order)."""
    await component.start()
    stack.push_async_callback(component.stop)
    return component


def _settling_heap(app: FastAPI, young_threshold: int) -> FastAPI:
    """The app, whose lifespan settles the heap once every component has started."""
    starting = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with starting(app):
            settle_heap(young_threshold)
            yield

    app.router.lifespan_context = lifespan
    return app


def run_service(
    service: str,
    settings_class: type[S],
    build_app: Callable[[S], FastAPI],
    port: Callable[[S], int],
) -> None:
    """The `python -m services.<name>` entry: settings, logging, tracing, serve until SIGTERM."""
    settings = load_settings(settings_class)
    configure_logging(service, settings.log_format, settings.log_level)
    configure_tracing(service)
    try:
        serve(_settling_heap(build_app(settings), settings.gc_young_threshold), port(settings))
    finally:
        shutdown_tracing()
