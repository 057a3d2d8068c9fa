"""What the HTTP routes are given: the running service's parts, as one typed dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

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


Deps = Annotated[ApiDeps, Depends(container(ApiDeps))]
