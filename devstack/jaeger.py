"""Jaeger v2 as the trace viewer of ``make up``, without Docker.

``make traces-ui`` builds Jaeger into ``.cache/`` and runs ``python -m devstack.jaeger
--binary <jaeger>``: all-in-one, in-memory, its listeners on 127.0.0.1 only
(``infra/jaeger/config.yaml``). ``make up`` (started while it runs) finds it on its UI port
and sends the services' spans to its OTLP/HTTP port instead of the local trace sink, and
tells the config service ``TRACE_UI_URL`` so that a message timeline links to its trace.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.paths import repo_root
from devstack.ports import LOOPBACK, accepts_connections, port_is_free
from devstack.procs import death_signal_preexec
from devstack.settings import DevSettings

CONFIG = repo_root() / "infra" / "jaeger" / "config.yaml"

# (variable, default). Not 4317/4318: those are the sink's and the usual collector's.
UI_PORT = ("DEVSTACK_JAEGER_UI_PORT", 16686)
OTLP_PORT = ("DEVSTACK_JAEGER_OTLP_PORT", 14318)
QUERY_GRPC_PORT = ("DEVSTACK_JAEGER_QUERY_GRPC_PORT", 16685)


def _port(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class JaegerPorts:
    ui: int
    otlp: int
    query_grpc: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JaegerPorts:
        return cls(_port(env, *UI_PORT), _port(env, *OTLP_PORT), _port(env, *QUERY_GRPC_PORT))

    @property
    def ui_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ui}"

    @property
    def otlp_url(self) -> str:
        return f"http://{LOOPBACK}:{self.otlp}"


def is_running(ports: JaegerPorts, timeout: float = 1.0) -> bool:
    """Jaeger's query API answers on the UI port and its OTLP port accepts connections."""
    try:
        response = httpx.get(f"{ports.ui_url}/api/services", timeout=timeout, trust_env=False)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(body, dict) and "data" in body and accepts_connections(ports.otlp)


def use_if_running(settings: DevSettings, env: Mapping[str, str]) -> DevSettings:
    """Settings that export to a running ``make traces-ui`` instead of the local sink.

    An OTEL_EXPORTER_OTLP_ENDPOINT set by hand wins (then no sink runs either)."""
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return settings
    ports = JaegerPorts.from_env(env)
    if not is_running(ports):
        return settings
    return dataclasses.replace(
        settings,
        trace_port=None,
        otlp_endpoint=ports.otlp_url,
        trace_ui_url=ports.ui_url,
        notes=(*settings.notes, f"Jaeger found on {ports.ui_url}: spans go there"),
    )


def _child_env(ports: JaegerPorts) -> dict[str, str]:
    return {
        **os.environ,
        "JAEGER_UI_PORT": str(ports.ui),
        "JAEGER_OTLP_HTTP_PORT": str(ports.otlp),
        "JAEGER_QUERY_GRPC_PORT": str(ports.query_grpc),
        "JAEGER_UI_ASSETS": os.environ.get("DEVSTACK_JAEGER_UI_ASSETS", ""),
    }


def _busy_ports(ports: JaegerPorts) -> list[str]:
    named = (
        (UI_PORT[0], ports.ui),
        (OTLP_PORT[0], ports.otlp),
        (QUERY_GRPC_PORT[0], ports.query_grpc),
    )
    return [f"port {port} ({variable})" for variable, port in named if not port_is_free(port)]


def run(binary: Path, ports: JaegerPorts, start_timeout: float = 60.0) -> int:
    """Run Jaeger in the foreground until it exits or Ctrl-C; 2 when a port is busy."""
    busy = _busy_ports(ports)
    if busy:
        print(
            f"traces-ui: {', '.join(busy)} already in use on {LOOPBACK} "
            "(is `make traces-ui` running already?); set the variable to another port, "
            "and the same in the shell of `make up`",
            file=sys.stderr,
        )
        return 2
    proc = subprocess.Popen(  # its output goes to our terminal as it is
        [str(binary), "--config", str(CONFIG)],
        env=_child_env(ports),
        stdin=subprocess.DEVNULL,
        preexec_fn=death_signal_preexec(),
    )
    try:
        deadline = time.monotonic() + start_timeout
        while not is_running(ports):
            if proc.poll() is not None:
                print(f"traces-ui: jaeger exited with code {proc.returncode}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"traces-ui: jaeger not up after {start_timeout:.0f} s", file=sys.stderr)
                proc.terminate()
                proc.wait(10)
                return 1
            time.sleep(0.2)
        print(
            "\n".join(
                [
                    "",
                    f"Jaeger UI      {ports.ui_url}",
                    f"OTLP/HTTP in   {ports.otlp_url}/v1/traces",
                    "A `make up` started now sends its spans here (instead of the local sink);",
                    "message timelines link to their trace. Ctrl-C stops Jaeger (in memory:",
                    "its traces go with it).",
                    "",
                ]
            ),
            flush=True,
        )
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()  # the terminal's Ctrl-C reached it too; this is for other callers
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="run Jaeger v2 (all-in-one) on loopback")
    parser.add_argument("--binary", type=Path, required=True, help="the jaeger executable")
    args = parser.parse_args()
    return run(args.binary, JaegerPorts.from_env(os.environ))


if __name__ == "__main__":
    sys.exit(main())
