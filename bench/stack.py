"""The system under test: the five services and the fakes as processes, tenants configured."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from bench.infra import Infra
from bench.procs import Child
from devstack.ports import free_port

JWT_SECRET = "bench-jwt-secret-that-is-long-enough-0123456789"  # noqa: S105 (throw-away)
GATEWAY_KEY = "bench-gateway-key"
SERVICES = ("config", "identity", "responder", "gateway", "media")


@dataclass
class Stack:
    infra: Infra
    services: dict[str, Child]
    groq: Child
    graph: Child
    sink: Child | None
    log_dir: Path
    extra: dict[str, Child] = field(default_factory=dict)

    @property
    def gateway(self) -> Child:
        return self.services["gateway"]

    @property
    def config_readers(self) -> list[str]:
        return [self.services[name].url for name in ("identity", "responder", "gateway", "media")]

    @property
    def gateways(self) -> list[Child]:
        """Every running gateway process: the first one and replicas a scenario added."""
        added = [c for n, c in self.extra.items() if n.startswith("gateway-") and _alive(c)]
        return [self.gateway, *added]

    def pids(self) -> dict[str, int]:
        out = {name: child.pid for name, child in self.services.items()}
        out.update({"fake-groq": self.groq.pid, "fake-graph": self.graph.pid})
        out.update({name: child.pid for name, child in self.extra.items() if _alive(child)})
        return out

    def replica(self, service: str, number: int) -> Child:
        """Another OS process of `service` (same broker, database and settings) on its own
        port, through the `<SERVICE>_PORT` setting; started by the caller."""
        base = self.services[service]
        port = free_port()
        env = {**base.env, f"{service.upper()}_PORT": str(port)}
        child = Child(f"{service}-{number}", base.module, port, env, self.log_dir, [*base.args])
        self.extra[child.name] = child
        return child


def _alive(child: Child) -> bool:
    return child.proc is not None and child.proc.poll() is None


def _fake(name: str, log_dir: Path) -> Child:
    port = free_port()
    return Child(f"fake-{name}", f"fakes.{name}", port, {}, log_dir, ["--port", str(port)])


@contextlib.contextmanager
def provide_stack(
    infra: Infra, log_dir: Path, *, traces: bool, env_overrides: dict[str, str], tune: str = ""
) -> Iterator[Stack]:
    """`tune`: BENCH_TUNE knobs (bench/tuned.py) applied to every service; empty: none."""
    groq, graph = _fake("groq", log_dir), _fake("graph", log_dir)
    sink: Child | None = None
    if traces:
        port = free_port()
        sink = Child(
            "trace-sink",
            "devstack.tracesink",
            port,
            {},
            log_dir,
            ["--port", str(port), "--file", str(log_dir / "traces.jsonl")],
        )
    ports = {name: free_port() for name in SERVICES}
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "DATABASE_URL": infra.database_url,
        "SECRETS_KEY": Fernet.generate_key().decode(),
        "AUTH_JWT_SECRET": JWT_SECRET,
        "GATEWAY_API_KEYS": GATEWAY_KEY,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "GROQ_BASE_URL": groq.url,
        "WHATSAPP_GRAPH_URL": graph.url,
        # A reply per message, as the scenarios count them (window 0: the path without turns).
        "RESPONDER_TURN_QUIET_MS": "0",
        **({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url} if sink else {}),
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **env_overrides,
    }
    if tune:
        env["BENCH_TUNE"] = tune
    services = {
        name: Child(
            name,
            "bench.tuned" if tune else f"services.{name}",
            port,
            {**env, "OTEL_SERVICE_NAME": name},
            log_dir,
            [f"services.{name}"] if tune else [],
        )
        for name, port in ports.items()
    }
    fakes = [groq, graph, *([sink] if sink else [])]
    stack = Stack(infra, services, groq, graph, sink, log_dir)
    try:
        for child in fakes:
            child.start()
        for child in fakes:
            child.wait_ready(90, path="/healthz" if child is sink else "/_fake/requests")
        # config first: it publishes the config topic the others replay at start
        services["config"].start()
        services["config"].wait_ready(90)
        for name in ("identity", "responder", "gateway", "media"):
            services[name].start()
        for name in ("identity", "responder", "gateway", "media"):
            services[name].wait_ready(90)
        yield stack
    finally:
        for child in [*stack.extra.values(), *services.values(), *fakes]:
            child.stop()
