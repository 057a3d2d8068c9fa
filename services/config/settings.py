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
    groq_base_url: str = Field(
        default="https://api.groq.com",
        description="Where a saved Groq key is checked (GET /openai/v1/models)",
    )
    groq_check_timeout_s: float = Field(default=10.0, gt=0, le=60)
    key_check_interval_s: float = Field(
        default=3600.0,
        ge=1,
        description="How often the health check looks for keys due (unchecked ones, and "
        "the others once a day)",
    )
    trace_ui_url: str | None = Field(
        default=None, description="A Jaeger UI; the message timeline links to its traces there"
    )

    def model_post_init(self, __context: object) -> None:
        if len(self.auth_jwt_secret.get_secret_value()) < 32:
            raise ValueError("AUTH_JWT_SECRET must be at least 32 characters")
