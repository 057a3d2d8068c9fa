"""What the HTTP routes are given: the running service's parts, as one typed dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.config.adapters.audit import Actor, Audit, AuditTrail
from services.config.adapters.config_store import ConfigStore, SqlConfigStore
from services.config.adapters.conversations_store import (
    ConversationDirectory,
    SqlConversationDirectory,
)
from services.config.adapters.key_pool_store import KeyPoolStore
from services.config.adapters.outbox import ConfigOutbox
from services.config.settings import ConfigSettings
from shared.crypto import SecretBox
from shared.service import container


@dataclass(frozen=True)
class ApiDeps:
    settings: ConfigSettings
    box: SecretBox
    engine: AsyncEngine
    outbox: ConfigOutbox
    _: KW_ONLY
    # How a transaction's settings store and audit trail are made (a test hands in fakes).
    stores: Callable[[AsyncSession], ConfigStore] = SqlConfigStore
    audits: Callable[[AsyncSession, Actor], Audit] = AuditTrail
    conversations: Callable[[AsyncSession], ConversationDirectory] = SqlConversationDirectory
    key_pools: Callable[[AsyncSession], KeyPoolStore] = KeyPoolStore


running_deps = container(ApiDeps)  # the dependency a test overrides
Deps = Annotated[ApiDeps, Depends(running_deps)]
