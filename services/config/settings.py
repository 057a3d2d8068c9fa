from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings


class ConfigSettings(BaseServiceSettings):
    config_port: int = 8001
    auth_jwt_secret: SecretStr = Field(description="HS256 secret, at least 32 characters")
    auth_jwt_audience: str = "authenticated"
    projection_max_in_flight: int = Field(
        default=64, ge=1, description="Message events being projected at once (all four topics)"
    )
    trace_ui_url: str | None = Field(
        default=None, description="A Jaeger UI; the message timeline links to its traces there"
    )

    def model_post_init(self, __context: object) -> None:
        if len(self.auth_jwt_secret.get_secret_value()) < 32:
            raise ValueError("AUTH_JWT_SECRET must be at least 32 characters")
