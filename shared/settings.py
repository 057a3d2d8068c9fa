"""Typed settings read from the environment; a service refuses to start without its secrets."""

from __future__ import annotations

import sys
from typing import Literal, NoReturn, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class BaseServiceSettings(BaseSettings):
    """What every service needs: Kafka, PostgreSQL, the secrets key, logging."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    kafka_bootstrap_servers: str = Field(min_length=1)
    database_url: str = Field(pattern=r"^postgresql\+asyncpg://")
    secrets_key: SecretStr = Field(
        description="Fernet key(s), urlsafe base64; comma-separated for rotation (first encrypts)"
    )
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    db_pool_size: int = Field(default=10, ge=1)
    # Allocations between two young-generation collections, set once the service has
    # started (shared/heap.py); CPython's default is 700.
    gc_young_threshold: int = Field(default=10_000, ge=100)


def load_settings(cls: type[S]) -> S:
    """Build settings or exit with a message naming each missing or invalid variable."""
    try:
        return cls()
    except ValidationError as exc:
        _exit_with(cls.__name__, exc)


def _exit_with(name: str, exc: ValidationError) -> NoReturn:
    lines = [f"{name}: cannot start, the environment is incomplete:"]
    for error in exc.errors():
        variable = "_".join(str(part) for part in error["loc"]).upper()
        reason = "is required" if error["type"] == "missing" else error["msg"]
        lines.append(f"  - {variable} {reason}")
    lines.append("`make up` generates dev values; outside it, set them (see README).")
    print("\n".join(lines), file=sys.stderr)
    raise SystemExit(2)
