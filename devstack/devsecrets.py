"""Dev secrets for ``make up``: from the environment, else generated once and kept.

Kept in ``$DEV_DATA_DIR/dev-secrets.json`` (mode 0600) so a restart on the same data dir
uses the same ones: ``SECRETS_KEY`` encrypts stored secrets, it must not change.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from devstack.errors import ConfigError

FILE_NAME = "dev-secrets.json"
MIN_JWT_SECRET = 32


@dataclass(frozen=True)
class DevSecrets:
    auth_jwt_secret: str
    gateway_api_keys: str
    secrets_key: str
    sources: Mapping[str, str]  # variable -> "env" | "generated" | "kept"

    @property
    def first_gateway_key(self) -> str:
        return self.gateway_api_keys.split(",")[0].strip()

    def as_env(self) -> dict[str, str]:
        return {
            "AUTH_JWT_SECRET": self.auth_jwt_secret,
            "GATEWAY_API_KEYS": self.gateway_api_keys,
            "SECRETS_KEY": self.secrets_key,
        }


def _generate(name: str) -> str:
    if name == "AUTH_JWT_SECRET":
        return secrets.token_urlsafe(48)  # 64 characters
    if name == "GATEWAY_API_KEYS":
        return "dev-" + secrets.token_urlsafe(24)
    return Fernet.generate_key().decode()


def _validate(values: Mapping[str, str]) -> None:
    if len(values["AUTH_JWT_SECRET"]) < MIN_JWT_SECRET:
        raise ConfigError(f"AUTH_JWT_SECRET must be at least {MIN_JWT_SECRET} characters")
    if not any(key.strip() for key in values["GATEWAY_API_KEYS"].split(",")):
        raise ConfigError("GATEWAY_API_KEYS must hold at least one key")
    try:
        Fernet(values["SECRETS_KEY"].encode())
    except (ValueError, TypeError):
        raise ConfigError(
            "SECRETS_KEY must be 32 bytes in url-safe base64 (a Fernet key), e.g. the "
            "output of: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from None


def load_dev_secrets(data_dir: Path, env: Mapping[str, str] | None = None) -> DevSecrets:
    """Values from ``env`` win; the others come from the file, or are generated and saved."""
    env = os.environ if env is None else env
    path = data_dir / FILE_NAME
    stored: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is unreadable ({exc}); fix or delete it") from None
        if isinstance(loaded, dict):
            stored = {str(k): str(v) for k, v in loaded.items()}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    changed = False
    for name in ("AUTH_JWT_SECRET", "GATEWAY_API_KEYS", "SECRETS_KEY"):
        if env.get(name):
            values[name], sources[name] = env[name], "env"
        elif stored.get(name):
            values[name], sources[name] = stored[name], "kept"
        else:
            values[name] = stored[name] = _generate(name)
            sources[name] = "generated"
            changed = True
    _validate(values)
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(stored, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    if path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return DevSecrets(
        auth_jwt_secret=values["AUTH_JWT_SECRET"],
        gateway_api_keys=values["GATEWAY_API_KEYS"],
        secrets_key=values["SECRETS_KEY"],
        sources=sources,
    )
