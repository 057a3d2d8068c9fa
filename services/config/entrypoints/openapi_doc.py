"""Writes the config API's OpenAPI document for the settings UI's generated types
(`ui/openapi/config.json`; `--check` exits 1 when the file is stale)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from services.config.main import build_app
from services.config.settings import ConfigSettings

TARGET = Path(__file__).resolve().parents[3] / "ui" / "openapi" / "config.json"


def document() -> str:
    # Placeholder settings: building the app reads them, generating the schema never connects.
    settings = ConfigSettings(
        kafka_bootstrap_servers="unused:9092",
        database_url="postgresql+asyncpg://unused/unused",
        secrets_key=Fernet.generate_key().decode(),
        auth_jwt_secret="x" * 32,
    )
    return json.dumps(build_app(settings).openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    text = document()
    if args.check:
        if not args.output.is_file() or args.output.read_text() != text:
            print(f"{args.output} is stale: run `make ui-openapi`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
