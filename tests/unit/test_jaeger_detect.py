"""`make up` sends spans to a running `make traces-ui` (found on its ports), else to its sink."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack import jaeger
from devstack.ports import free_port
from devstack.settings import load_settings


class _QueryApi(BaseHTTPRequestHandler):
    """What `is_running` asks of Jaeger: GET /api/services answers its JSON envelope."""

    def do_GET(self) -> None:
        body = json.dumps({"data": [], "total": 0}).encode()
        self.send_response(200 if self.path == "/api/services" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def query_api() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QueryApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _env(tmp_path: Path, ui: int, otlp: int) -> dict[str, str]:
    return {
        "DEV_DATA_DIR": str(tmp_path),
        "DEVSTACK_JAEGER_UI_PORT": str(ui),
        "DEVSTACK_JAEGER_OTLP_PORT": str(otlp),
    }


def test_a_running_jaeger_replaces_the_local_sink(tmp_path: Path, query_api: int) -> None:
    # one listener stands for both ports: the OTLP port only has to accept connections
    env = _env(tmp_path, query_api, query_api)
    settings = jaeger.use_if_running(load_settings(env), env)
    assert settings.trace_port is None
    assert settings.otlp_endpoint == f"http://127.0.0.1:{query_api}"
    assert settings.trace_ui_url == f"http://127.0.0.1:{query_api}"
    assert any("Jaeger found" in note for note in settings.notes)


def test_without_jaeger_the_sink_stays(tmp_path: Path) -> None:
    env = _env(tmp_path, free_port(), free_port())
    before = load_settings(env)
    assert jaeger.use_if_running(before, env) == before
    assert before.trace_port is not None and before.trace_ui_url is None


def test_an_endpoint_set_by_hand_wins(tmp_path: Path, query_api: int) -> None:
    env = {
        **_env(tmp_path, query_api, query_api),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
    }
    before = load_settings(env)
    assert jaeger.use_if_running(before, env) == before
    assert before.otlp_endpoint is None and before.trace_port is None
