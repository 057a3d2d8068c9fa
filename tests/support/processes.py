"""Services as real OS processes: start, wait until ready, SIGKILL, restart."""

from __future__ import annotations

from devstack.children import ChildProcess as ServiceProcess
from devstack.paths import repo_root

ROOT = repo_root()

__all__ = ["ROOT", "ServiceProcess"]
