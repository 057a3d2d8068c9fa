"""One-shot start-up step, before any service: database migrations and Kafka topics (created
when missing, their configs aligned with shared/contracts/topics.py when present).

Run as `python -m shared.bootstrap` (make up, tests, the Kubernetes Job). Idempotent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.messaging import ensure_topics
from shared.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


class BootstrapSettings(BaseSettings):
    """What the one-shot step needs: where the database and the broker are."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str = Field(pattern=r"^postgresql\+asyncpg://")
    kafka_bootstrap_servers: str = Field(min_length=1)
    kafka_replication_factor: int = Field(default=1, ge=1)


def main() -> int:
    settings = load_settings(BootstrapSettings)
    migrate(settings.database_url)
    aligned = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers, replication_factor=settings.kafka_replication_factor
        )
    )
    if aligned:
        print(f"bootstrap: topic configs aligned with the code: {', '.join(aligned)}")
    print("bootstrap: migrations at head, topics present")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
