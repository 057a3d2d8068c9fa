from __future__ import annotations

from pydantic import Field

from shared.settings import BaseServiceSettings


class IdentitySettings(BaseServiceSettings):
    identity_port: int = 8002
    identity_history_days: int = Field(default=90, ge=1, description="How far back history counts")
    identity_max_in_flight: int = Field(default=256, ge=1)
