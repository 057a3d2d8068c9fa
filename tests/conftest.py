"""Session fixtures: real Kafka and PostgreSQL (testcontainers with Docker, local processes
without), migrations and topics, the provider fakes and the four services as processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from devstack.children import run_bootstrap
from devstack.ports import free_port
from devstack.testinfra import provide_kafka, provide_postgres
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

JWT_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"
GATEWAY_KEY = "test-gateway-key"
WHATSAPP_APP_SECRET = "global-app-secret-for-tests"
WHATSAPP_VERIFY_TOKEN = "global-verify-token"
# Only links are built from it (no trace viewer runs in the tests).
TRACE_UI_URL = "http://127.0.0.1:16686"


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    with provide_kafka() as bootstrap_servers:
        yield bootstrap_servers


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with provide_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def bootstrapped(kafka: str, database_url: str) -> dict[str, str]:
    """Migrations and topics, exactly as `make up` and the Kubernetes Job run them."""
    run_bootstrap(kafka, database_url)
    return {"KAFKA_BOOTSTRAP_SERVERS": kafka, "DATABASE_URL": database_url}


@pytest.fixture(scope="session")
def service_env(bootstrapped: dict[str, str]) -> dict[str, str]:
    return {
        **bootstrapped,
        "SECRETS_KEY": Fernet.generate_key().decode(),
        "AUTH_JWT_SECRET": JWT_SECRET,
        "GATEWAY_API_KEYS": f"{GATEWAY_KEY},second-key",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_REPLY_TIMEOUT_S": "45",
        "GROQ_MAX_RETRIES": "0",
    }


@pytest.fixture(scope="session")
def stack(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir: Path = tmp_path_factory.mktemp("service-logs")
    fakes = {
        name: ServiceProcess(
            f"fake-{name}", f"fakes.{name}", port, {}, log_dir, ["--port", str(port)]
        )
        for name, port in (("groq", free_port()), ("graph", free_port()), ("twilio", free_port()))
    }
    sink_port = free_port()
    sink = ServiceProcess(
        "trace-sink", "devstack.tracesink", sink_port, {}, log_dir, ["--port", str(sink_port)]
    )
    fakes["sink"] = sink
    ports = {name: free_port() for name in ("gateway", "identity", "responder", "config")}
    env = {
        **service_env,
        "GROQ_BASE_URL": fakes["groq"].url,
        "WHATSAPP_GRAPH_URL": fakes["graph"].url,
        "TWILIO_API_URL": fakes["twilio"].url,
        "WHATSAPP_APP_SECRET": WHATSAPP_APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
        "DELIVERY_MAX_ATTEMPTS": "4",
        "DELIVERY_LEASE_S": "5",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "TRACE_UI_URL": TRACE_UI_URL,
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    services = {
        name: ServiceProcess(
            name, f"services.{name}", port, {**env, "OTEL_SERVICE_NAME": name}, log_dir
        )
        for name, port in ports.items()
    }
    for process in [*fakes.values(), *services.values()]:
        process.start()
    try:
        for fake in fakes.values():
            fake.wait_ready(path="/healthz" if fake is sink else "/_fake/requests")
        for service in services.values():
            service.wait_ready()
        yield Stack(
            gateway=services["gateway"],
            identity=services["identity"],
            responder=services["responder"],
            config=services["config"],
            fake_groq=fakes["groq"],
            fake_graph=fakes["graph"],
            fake_twilio=fakes["twilio"],
            trace_sink=sink,
            jwt_secret=JWT_SECRET,
            gateway_key=GATEWAY_KEY,
            database_url=service_env["DATABASE_URL"],
        )
    finally:
        for process in [*services.values(), *fakes.values()]:
            process.stop()
