"""Collects every service's tables for Alembic (migrations are the one place that sees all)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from shared.tables import metadata

TABLE_MODULES = (
    "services.config.adapters.tables",
    "services.gateway.adapters.tables",
    "services.identity.adapters.tables",
    "services.responder.adapters.tables",
)


def load_all_tables() -> MetaData:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return metadata
