from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    gateway_port: int = 8000
    gateway_api_keys: SecretStr = Field(description="Comma-separated bearer keys")
    gateway_reply_timeout_s: float = Field(default=25.0, gt=0)
    gateway_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    webhook_max_body_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    gateway_drain_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="A body over a limit is read and discarded up to this size before the 413, "
        "so the client can read it; past it the connection is closed",
    )
    whatsapp_graph_url: str = "https://graph.facebook.com"
    whatsapp_graph_version: str = "v21.0"
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_messaging_url: str = Field(
        default="https://messaging.twilio.com", description="Twilio's typing indicator host"
    )
    whatsapp_send_rate_per_s: float = Field(
        default=80.0,
        ge=0,
        description="Replies per second per business number (Meta's default throughput); "
        "0 = no pacing of our own. A 130429 holds the number for its back-off either way",
    )
    typing_refresh_s: float = Field(
        default=20.0, gt=0, description="The typing indicator is repeated this often (25 s TTL)"
    )
    public_base_url: str | None = Field(
        default=None,
        description="External URL of the gateway (what Twilio signs) when behind a proxy",
    )
    twilio_status_callback_url: str | None = Field(
        default=None,
        description="The StatusCallback set on each Twilio send (what Twilio calls and signs); "
        "unset: PUBLIC_BASE_URL + /webhooks/twilio/status, and no callback without either",
    )
    delivery_max_attempts: int = Field(default=6, ge=1)
    delivery_timeout_s: float = Field(default=10.0, gt=0)
    delivery_lease_s: int = Field(
        default=5,
        ge=1,
        description="How long a claimed reply is reserved; renewed while it is being sent, so "
        "after a crash it resumes within this",
    )

    def status_callback_url(self) -> str | None:
        if self.twilio_status_callback_url:
            return self.twilio_status_callback_url
        if self.public_base_url:
            return self.public_base_url.rstrip("/") + "/webhooks/twilio/status"
        return None

    def api_keys(self) -> list[bytes]:
        keys = [k.strip() for k in self.gateway_api_keys.get_secret_value().split(",")]
        return [k.encode() for k in keys if k]

    def model_post_init(self, __context: object) -> None:
        if not self.api_keys():
            raise ValueError("GATEWAY_API_KEYS must hold at least one key")
