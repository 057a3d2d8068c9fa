"""Settings of ``make up``, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.errors import ConfigError
from devstack.paths import default_data_dir
from devstack.ports import free_port, port_is_free

SERVICES = ("gateway", "config", "identity", "responder", "media")

# (service, env variable, default port)
SERVICE_PORTS = (
    ("gateway", "GATEWAY_PORT", 8000),
    ("config", "CONFIG_PORT", 8001),
    ("identity", "IDENTITY_PORT", 8002),
    ("responder", "RESPONDER_PORT", 8003),
    ("media", "MEDIA_PORT", 8004),
)
KAFKA_PORT = ("Kafka", "DEVSTACK_KAFKA_PORT", 9092)
POSTGRES_PORT = ("PostgreSQL", "DEVSTACK_POSTGRES_PORT", 5432)
TRACE_PORT = ("trace sink", "DEVSTACK_TRACE_PORT", 4318)


@dataclass(frozen=True)
class PortChoice:
    port: int
    note: str | None = None  # set when the default was busy and another port was taken


def choose_port(
    label: str, variable: str, default: int, env: Mapping[str, str], taken: set[int]
) -> PortChoice:
    """The port from ``variable`` (must be free), else ``default``, else a free one."""
    raw = env.get(variable, "").strip()
    if raw:
        try:
            port = int(raw)
        except ValueError:
            raise ConfigError(f"{variable}={raw!r} is not a port number") from None
        if not 0 < port < 65536:
            raise ConfigError(f"{variable}={port} is not a port number")
        if port in taken or not port_is_free(port):
            raise ConfigError(
                f"{variable}={port}: port {port} is already in use on 127.0.0.1 "
                f"(choose another {label} port, or stop what uses it)"
            )
        taken.add(port)
        return PortChoice(port)
    if default not in taken and port_is_free(default):
        taken.add(default)
        return PortChoice(default)
    port = free_port()
    while port in taken:
        port = free_port()
    taken.add(port)
    return PortChoice(
        port,
        f"port {default} is busy: {label} uses {port} instead (set {variable} to choose)",
    )


@dataclass(frozen=True)
class DevSettings:
    data_dir: Path
    kafka_bootstrap_servers: str | None  # set: use it, start no broker
    database_url: str | None  # set: use it, start no database
    kafka_port: int
    postgres_port: int
    service_ports: dict[str, int]
    notes: tuple[str, ...] = field(default=())
    trace_port: int | None = None  # set: make up runs the local trace sink on it
    otlp_endpoint: str | None = None  # set: a running trace viewer (make traces-ui) gets spans
    trace_ui_url: str | None = None  # that viewer's UI, for links to a trace

    @property
    def starts_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def starts_postgres(self) -> bool:
        return self.database_url is None


def load_settings(env: Mapping[str, str] | None = None) -> DevSettings:
    """Read the environment; pick free ports where a default one is busy."""
    env = os.environ if env is None else env
    configured = env.get("DEV_DATA_DIR", "").strip()
    data_dir = Path(configured).expanduser().resolve() if configured else default_data_dir()
    kafka = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or None
    database = env.get("DATABASE_URL", "").strip() or None
    if database is not None and not database.startswith("postgresql"):
        raise ConfigError(
            f"DATABASE_URL must be a postgresql+asyncpg:// URL, got {database.split(':')[0]}://…"
        )
    taken: set[int] = set()
    notes: list[str] = []
    ports: dict[str, int] = {}
    for service, variable, default in SERVICE_PORTS:
        choice = choose_port(service, variable, default, env, taken)
        ports[service] = choice.port
        if choice.note:
            notes.append(choice.note)
    kafka_port = postgres_port = 0
    if kafka is None:
        choice = choose_port(*KAFKA_PORT, env, taken)
        kafka_port = choice.port
        if choice.note:
            notes.append(choice.note)
    if database is None:
        choice = choose_port(*POSTGRES_PORT, env, taken)
        postgres_port = choice.port
        if choice.note:
            notes.append(choice.note)
    trace_port = None
    if not env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        choice = choose_port(*TRACE_PORT, env, taken)
        trace_port = choice.port
        if choice.note:
            notes.append(choice.note)
    return DevSettings(
        trace_port=trace_port,
        data_dir=data_dir,
        kafka_bootstrap_servers=kafka,
        database_url=database,
        kafka_port=kafka_port,
        postgres_port=postgres_port,
        service_ports=ports,
        notes=tuple(notes),
    )
