"""``python -m devstack.infra start|stop|status|env``: only Kafka and PostgreSQL.

For running the services by hand: ``start`` runs both in the foreground (Ctrl-C stops
them) and prints the variables to export (with the dev secrets ``make up`` uses on the same
DEV_DATA_DIR); ``env`` prints them again from another shell; ``stop`` stops a running
``start`` or ``make up`` on that DEV_DATA_DIR, or what a killed one left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import time
from types import FrameType

from devstack.devsecrets import load_dev_secrets
from devstack.errors import ConfigError, DevstackError
from devstack.localinfra import LocalInfra, read_state
from devstack.lock import data_dir_lock, holder_pid
from devstack.paths import default_data_dir
from devstack.procs import find_processes
from devstack.settings import load_settings


def _exports(env: dict[str, str]) -> list[str]:
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


def start() -> int:
    data_dir = default_data_dir()
    stop = threading.Event()
    serving = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not serving.is_set():
            raise KeyboardInterrupt  # still starting: abandon the start, then clean up
        stop.set()

    with data_dir_lock(data_dir):
        LocalInfra.reap_stale_in(data_dir)
        settings = load_settings()
        for note in settings.notes:
            print(note, flush=True)
        infra = LocalInfra(settings)
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            infra.start()
            values = {**infra.env(), **load_dev_secrets(data_dir).as_env()}
            print("\n".join(["", *_exports(values), ""]), flush=True)
            print("Ctrl-C stops Kafka and PostgreSQL.", flush=True)
            serving.set()
            while not stop.wait(0.5):
                for name, server in (("Kafka", infra.kafka), ("PostgreSQL", infra.postgres)):
                    if server is not None and not server.is_running():
                        print(f"{name} exited unexpectedly; stopping", flush=True)
                        return 1
            return 0
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            infra.stop()
            print("stopped", flush=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def stop() -> int:
    """Ask the running ``start`` / ``make up`` to stop, or stop leftovers of a killed one."""
    data_dir = default_data_dir()
    owner = holder_pid(data_dir)
    if owner is not None and owner > 0:
        print(f"sending SIGTERM to pid {owner}", flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(owner, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while holder_pid(data_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if holder_pid(data_dir) is not None:
            print(f"pid {owner} did not stop within 60 s", flush=True)
            return 1
    LocalInfra.reap_stale_in(data_dir)
    print("nothing running on", data_dir, flush=True)
    return 0


def status() -> int:
    data_dir = default_data_dir()
    owner = holder_pid(data_dir)
    marker = str(data_dir)
    servers = find_processes(
        lambda cmd: (
            any(marker in part for part in cmd)
            and ("kafka.Kafka" in cmd or cmd[0].endswith("postgres"))
        )
    )
    print(f"DEV_DATA_DIR={data_dir}")
    print(f"owner: {'pid ' + str(owner) if owner else 'none'}")
    for proc in servers:
        kind = "Kafka" if "kafka.Kafka" in proc.cmdline() else "PostgreSQL"
        print(f"{kind}: running, pid {proc.pid}")
    state = read_state(data_dir) if owner else None
    if state:
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
            print(f"{key}={state.get(key)}")
    return 0 if owner else 3


def env() -> int:
    data_dir = default_data_dir()
    state = read_state(data_dir) if holder_pid(data_dir) else None
    if not state:
        raise ConfigError(f"nothing is running on {data_dir}: run `python -m devstack.infra start`")
    values = {key: str(state[key]) for key in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    values.update(load_dev_secrets(data_dir).as_env())
    print("\n".join(_exports(values)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.infra", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    commands = {"start": start, "stop": stop, "status": status, "env": env}
    try:
        return commands[args.command]()
    except DevstackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
