from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    gateway_port: int = 8000
    gateway_api_keys: SecretStr = Field(description="Comma-separated bearer keys")
    gateway_reply_timeout_s: float = Field(default=25.0, gt=0)
    gateway_max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    def api_keys(self) -> list[bytes]:
        keys = [k.strip() for k in self.gateway_api_keys.get_secret_value().split(",")]
        return [k.encode() for k in keys if k]

    def model_post_init(self, __context: object) -> None:
        if not self.api_keys():
            raise ValueError("GATEWAY_API_KEYS must hold at least one key")
