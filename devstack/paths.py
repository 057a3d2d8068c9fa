"""Where things live: the repository, the download cache and the dev data directory."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root (the folder that holds ``devstack/``)."""
    return Path(__file__).resolve().parent.parent


def default_cache_dir() -> Path:
    """``$DEVSTACK_CACHE_DIR``, else ``<repo>/.cache`` (git-ignored)."""
    configured = os.environ.get("DEVSTACK_CACHE_DIR")
    return Path(configured).expanduser().resolve() if configured else repo_root() / ".cache"


def default_data_dir() -> Path:
    """``$DEV_DATA_DIR``, else ``<repo>/.devdata`` (git-ignored)."""
    configured = os.environ.get("DEV_DATA_DIR")
    return Path(configured).expanduser().resolve() if configured else repo_root() / ".devdata"


def kafka_infra_dir() -> Path:
    """``infra/kafka``: the pom that lists the broker jars and the Log4j 2 config."""
    return repo_root() / "infra" / "kafka"
