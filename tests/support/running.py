"""The five services, the provider fakes and the trace sink as processes, against a given
Kafka and PostgreSQL: the session's shared stack, or a test's private one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

TRACE_UI_URL = "http://127.0.0.1:16686"


@contextmanager
def running_stack(
    service_env: dict[str, str], log_dir: Path, jwt_secret: str, gateway_key: str
) -> Iterator[Stack]:
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
    ports = {name: free_port() for name in ("gateway", "identity", "responder", "config", "media")}
    env = {
        "DELIVERY_MAX_ATTEMPTS": "4",
        "DELIVERY_LEASE_S": "5",
        "MEDIA_RETRY_BUDGET_S": "4",  # the media retry e2e waits out the budget
        **service_env,
        "GROQ_BASE_URL": fakes["groq"].url,
        "WHATSAPP_GRAPH_URL": fakes["graph"].url,
        "TWILIO_API_URL": fakes["twilio"].url,
        "TWILIO_MESSAGING_URL": fakes["twilio"].url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # Only links are built from it (no trace viewer runs in the tests).
        "TRACE_UI_URL": TRACE_UI_URL,
        # Twilio (the fake) posts each send's statuses back to the gateway here.
        "TWILIO_STATUS_CALLBACK_URL": f"http://127.0.0.1:{ports['gateway']}/webhooks/twilio/status",
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
            jwt_secret=jwt_secret,
            gateway_key=gateway_key,
            database_url=service_env["DATABASE_URL"],
            media=services["media"],
        )
    finally:
        for process in [*services.values(), *fakes.values()]:
            process.stop()
