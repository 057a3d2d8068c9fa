"""Checks for the external tools the local stack needs, with install hints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from devstack.errors import PrerequisiteMissing

MIN_JAVA = 17

JAVA_HINT = (
    f"Java {MIN_JAVA}+ is required to run the local Kafka broker: "
    "apt-get install openjdk-17-jre-headless, "
    "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker"
)
MAVEN_HINT = (
    "Maven is required once, to download the Kafka broker jars from Maven Central: "
    "apt-get install maven, "
    "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker"
)

_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def _java_candidates() -> list[Path]:
    found: list[Path] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        found.append(Path(java_home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path))
    return [path for path in found if path.is_file() and os.access(path, os.X_OK)]


def java_major_version(java: Path) -> int | None:
    """The major version reported by ``java -version`` (8 for "1.8.0_..."), None if unknown."""
    try:
        done = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(done.stderr + done.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" is Java 8
        major = int(match.group(2))
    return major


def require_java() -> Path:
    """The ``java`` executable (``$JAVA_HOME/bin/java`` first), version 17 or newer."""
    candidates = _java_candidates()
    if not candidates:
        raise PrerequisiteMissing(JAVA_HINT)
    versions: list[str] = []
    for java in candidates:
        major = java_major_version(java)
        if major is not None and major >= MIN_JAVA:
            return java
        versions.append(f"{java} is version {major if major is not None else 'unknown'}")
    raise PrerequisiteMissing(f"{JAVA_HINT} ({'; '.join(versions)})")


def require_maven() -> Path:
    """The ``mvn`` executable."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissing(MAVEN_HINT)
    return Path(mvn)
