"""One-shot start-up step, before any service: database migrations and Kafka topics (created
when missing, their configs aligned with shared/contracts/topics.py when present).

Run as `python -m shared.bootstrap` (make up, tests, the Kubernetes Job). Idempotent.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.messaging import ensure_topics

ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def main() -> int:
    database_url = os.environ.get("DATABASE_URL")
    bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not database_url or not bootstrap_servers:
        print("bootstrap: DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS are required", file=sys.stderr)
        return 2
    replication = os.environ.get("KAFKA_REPLICATION_FACTOR", "1")
    if not replication.isdigit() or int(replication) < 1:
        print("bootstrap: KAFKA_REPLICATION_FACTOR must be a positive integer", file=sys.stderr)
        return 2
    migrate(database_url)
    aligned = asyncio.run(ensure_topics(bootstrap_servers, replication_factor=int(replication)))
    if aligned:
        print(f"bootstrap: topic configs aligned with the code: {', '.join(aligned)}")
    print("bootstrap: migrations at head, topics present")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
