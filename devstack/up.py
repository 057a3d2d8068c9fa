"""``python -m devstack.up`` (``make up``): infrastructure, migrations, the four services.

Runs in the foreground; Ctrl-C (SIGINT) or SIGTERM stops everything it started and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType

from devstack import jaeger
from devstack.banner import ready_lines, secrets_lines
from devstack.devsecrets import DevSecrets, load_dev_secrets
from devstack.errors import DevstackError
from devstack.localinfra import LocalInfra
from devstack.lock import data_dir_lock
from devstack.output import Printer
from devstack.paths import default_data_dir, repo_root
from devstack.settings import SERVICE_PORTS, SERVICES, DevSettings, load_settings
from devstack.supervisor import SUPERVISOR, ServiceSpec, Supervisor, run_one_shot

log = logging.getLogger("devstack")


class Terminated(BaseException):
    """SIGTERM received before the event loop runs (while the infrastructure starts)."""


def service_argv(name: str) -> list[str]:
    """How a service is started (each also runs alone this way)."""
    return [sys.executable, "-m", f"services.{name}"]


def bootstrap_argv() -> list[str]:
    """The one-shot step before the services: migrations and Kafka topics."""
    return [sys.executable, "-m", "shared.bootstrap"]


def stack_env(settings: DevSettings, dev: DevSecrets, infra: LocalInfra) -> dict[str, str]:
    """The environment every child gets (the service name is added per service)."""
    env = dict(os.environ)
    env.update(infra.env())
    env.update(dev.as_env())
    for service, variable, _default in SERVICE_PORTS:
        env[variable] = str(settings.service_ports[service])
    env["DEV_DATA_DIR"] = str(settings.data_dir)
    if settings.trace_port is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{settings.trace_port}"
    if settings.otlp_endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = settings.otlp_endpoint
    if settings.trace_ui_url is not None:
        env["TRACE_UI_URL"] = settings.trace_ui_url
    env.setdefault("LOG_FORMAT", "console")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def service_specs(env: dict[str, str], settings: DevSettings) -> list[ServiceSpec]:
    sink: list[ServiceSpec] = []
    if settings.trace_port is not None:
        sink.append(
            ServiceSpec(
                name="traces",
                argv=[
                    sys.executable,
                    "-m",
                    "devstack.tracesink",
                    "--port",
                    str(settings.trace_port),
                    "--file",
                    str(settings.data_dir / "traces.jsonl"),
                ],
                env=env,
                cwd=repo_root(),
                ready_url=f"http://127.0.0.1:{settings.trace_port}/healthz",
                stop_last=True,
            )
        )
    return sink + [
        ServiceSpec(
            name=name,
            argv=service_argv(name),
            env={**env, "OTEL_SERVICE_NAME": name},
            cwd=repo_root(),
            ready_url=f"http://127.0.0.1:{settings.service_ports[name]}/readyz",
        )
        for name in SERVICES
    ]


class _PrinterHandler(logging.Handler):
    def __init__(self, printer: Printer) -> None:
        super().__init__(logging.INFO)
        self._printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname.lower()}: {text}"
        self._printer.lines(SUPERVISOR, text)


def _route_logging(printer: Printer) -> None:
    logger = logging.getLogger("devstack")
    logger.setLevel(logging.INFO)
    logger.addHandler(_PrinterHandler(printer))
    logger.propagate = False


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _signals_while_stopping(printer: Printer) -> Iterator[None]:
    """A second Ctrl-C must not interrupt the shutdown half-way."""

    def ignore(signum: int, frame: FrameType | None) -> None:
        printer.line(SUPERVISOR, "already stopping, please wait…")

    previous = {sig: signal.signal(sig, ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def _announce_when_ready(
    supervisor: Supervisor,
    printer: Printer,
    settings: DevSettings,
    dev: DevSecrets,
    infra: LocalInfra,
    started: float,
) -> None:
    await supervisor.wait_ready()
    elapsed = time.monotonic() - started
    lines = ready_lines(settings, dev, infra.kafka_bootstrap_servers, infra.database_url, elapsed)
    rule = "─" * 78
    printer.block(["", rule, *lines, rule, ""])


async def serve(
    printer: Printer,
    settings: DevSettings,
    dev: DevSecrets,
    infra: LocalInfra,
    started: float,
) -> int:
    """Bootstrap, then supervise the services until SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            printer.line(SUPERVISOR, "already stopping, please wait…")
            return
        printer.line(SUPERVISOR, f"{sig.name} received: stopping")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    env = stack_env(settings, dev, infra)
    printer.line(SUPERVISOR, "running migrations and creating topics (shared.bootstrap)")
    code = await run_one_shot(
        ServiceSpec("bootstrap", bootstrap_argv(), env, cwd=repo_root()), printer, stop
    )
    if code is None:
        return 0
    if code != 0:
        printer.line(
            SUPERVISOR,
            f"bootstrap step `python -m shared.bootstrap` failed with exit code {code} "
            "(its output is above, marked `bootstrap`); stopping",
        )
        return 1

    supervisor = Supervisor(service_specs(env, settings), printer)
    supervisor.start()
    printer.line(SUPERVISOR, f"started {', '.join(SERVICES)}")
    announce = asyncio.create_task(
        _announce_when_ready(supervisor, printer, settings, dev, infra, started)
    )
    await stop.wait()
    announce.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await announce
    printer.line(SUPERVISOR, "stopping services")
    await supervisor.stop()
    return 0


def _run(printer: Printer, started: float) -> int:
    data_dir = default_data_dir()
    with data_dir_lock(data_dir):
        LocalInfra.reap_stale_in(data_dir)  # before choosing ports: they may hold ours
        settings = jaeger.use_if_running(load_settings(), os.environ)
        for note in settings.notes:
            printer.line(SUPERVISOR, note)
        dev = load_dev_secrets(settings.data_dir)
        printer.line(SUPERVISOR, f"data in {settings.data_dir}")
        for line in secrets_lines(settings, dev):
            printer.line(SUPERVISOR, line)
        infra = LocalInfra(settings)
        try:
            infra.start()
            return asyncio.run(serve(printer, settings, dev, infra, started))
        finally:
            with _signals_while_stopping(printer):
                stopping = time.monotonic()
                names = infra.running_names()
                if names:
                    printer.line(SUPERVISOR, f"stopping {' and '.join(names)}")
                infra.stop()
                if names:
                    printer.line(
                        SUPERVISOR, f"everything stopped in {time.monotonic() - stopping:.1f} s"
                    )


def main() -> int:
    started = time.monotonic()
    printer = Printer()
    _route_logging(printer)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run(printer, started)
    except DevstackError as exc:
        printer.lines(SUPERVISOR, f"error: {exc}")
        return exc.exit_code
    except (KeyboardInterrupt, Terminated):
        printer.line(SUPERVISOR, "interrupted during start-up; everything stopped")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
