"""One-time download of the Apache Kafka broker jars from Maven Central."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from devstack.errors import StartupError
from devstack.paths import kafka_infra_dir
from devstack.prereq import require_java, require_maven
from devstack.procs import death_signal_preexec

KAFKA_VERSION = "4.1.1"
MARKER = ".complete"

log = logging.getLogger("devstack.kafka")


def kafka_libs_dir(cache_dir: Path) -> Path:
    """``<cache>/kafka-libs-<version>``: the broker classpath once downloaded."""
    return cache_dir / f"kafka-libs-{KAFKA_VERSION}"


def _pom() -> Path:
    return kafka_infra_dir() / "pom.xml"


def _fingerprint(pom: Path) -> str:
    """Identifies what was downloaded: a changed pom means a new download."""
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _is_complete(libs: Path, fingerprint: str) -> bool:
    marker = libs / MARKER
    try:
        return marker.read_text().strip() == fingerprint
    except OSError:
        return False


def ensure_kafka_jars(cache_dir: Path) -> Path:
    """Download the broker jars once (``mvn dependency:copy-dependencies``) and return their folder.

    A marker file written after a successful download makes the result reusable; an
    interrupted download has none, so it is done again. Concurrent callers (a test run and
    ``make up``) wait for each other through a lock file. Maven uses ``~/.m2`` as usual.
    """
    pom = _pom()
    fingerprint = _fingerprint(pom)
    libs = kafka_libs_dir(cache_dir)
    if _is_complete(libs, fingerprint):
        return libs

    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".kafka-libs.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(libs, fingerprint):  # another process finished meanwhile
            return libs
        require_java()  # Maven itself runs on Java
        mvn = require_maven()
        if libs.exists():
            shutil.rmtree(libs)
        log.info(
            "downloading the Kafka %s jars from Maven Central into %s (once; ~20 s)",
            KAFKA_VERSION,
            libs,
        )
        started = time.monotonic()
        command = [
            str(mvn),
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
                preexec_fn=death_signal_preexec(),  # a killed `make up` stops Maven too
                env={**os.environ, "MAVEN_OPTS": os.environ.get("MAVEN_OPTS", "-Xmx512m")},
            )
        except subprocess.TimeoutExpired as exc:
            raise StartupError(
                "downloading the Kafka jars with Maven timed out after 15 minutes"
            ) from exc
        jars = list(libs.glob("*.jar")) if libs.exists() else []
        if done.returncode != 0 or not jars:
            output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
            raise StartupError(
                f"could not download the Kafka jars from Maven Central "
                f"(mvn exit code {done.returncode}). Maven said:\n{output}\n"
                "Check the network or proxy settings (~/.m2/settings.xml), "
                "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
            )
        (libs / MARKER).write_text(fingerprint + "\n")
        log.info("downloaded %d Kafka jars in %.1f s", len(jars), time.monotonic() - started)
        return libs
