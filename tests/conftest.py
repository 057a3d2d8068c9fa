"""Session fixtures: real Kafka and PostgreSQL (testcontainers with Docker, local processes
without), migrations and topics, the provider fakes and the four services as processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from devstack.children import run_bootstrap
from devstack.testinfra import provide_kafka, provide_postgres
from tests.support.running import running_stack
from tests.support.stack import Stack

JWT_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"
GATEWAY_KEY = "test-gateway-key"
WHATSAPP_APP_SECRET = "global-app-secret-for-tests"
WHATSAPP_VERIFY_TOKEN = "global-verify-token"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that publish events in another service's name (the gateway's tests publish the
    responder's ResponseGenerated) run last: the session's stack shares one log, and a
    replay of it (tests/e2e/test_replay.py) would rebuild rows that no live service wrote."""
    items.sort(key=lambda item: item.get_closest_marker("fabricates_events") is not None)


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
        "WHATSAPP_APP_SECRET": WHATSAPP_APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
        # Tenants without conversation settings get a reply per message, as the tests
        # written before turn assembly expect; tests/e2e/test_turns.py gives its tenants a
        # window through their ConversationSettingsChanged.
        "RESPONDER_TURN_QUIET_MS": "0",
    }


@pytest.fixture(scope="session")
def stack(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir: Path = tmp_path_factory.mktemp("service-logs")
    with running_stack(service_env, log_dir, JWT_SECRET, GATEWAY_KEY) as running:
        yield running
