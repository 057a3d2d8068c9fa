from __future__ import annotations

from pydantic import Field

from shared.settings import BaseServiceSettings

DEFAULT_SYSTEM_PROMPT = (
    "You are the assistant of a business answering its customers on WhatsApp. "
    "Reply briefly and politely, in the customer's language."
)


class ResponderSettings(BaseServiceSettings):
    responder_port: int = 8003
    groq_base_url: str = "https://api.groq.com"
    groq_timeout_s: float = Field(default=30.0, gt=0)
    # Generic API messages only (their caller waits): tries after a 429/5xx/timeout before
    # the retryable 503, within RESPONDER_API_RETRY_WINDOW_S. The SDK itself never retries.
    groq_max_retries: int = Field(default=2, ge=0)
    responder_api_retry_window_s: float = Field(default=10.0, ge=0)
    # WhatsApp and Twilio messages: tried again until Groq recovers, for at most this long,
    # then a final ResponseFailed(retryable=true).
    responder_retry_budget_s: float = Field(default=3600.0, ge=0)
    responder_retry_max_backoff_s: float = Field(default=60.0, gt=0)
    responder_system_prompt: str = DEFAULT_SYSTEM_PROMPT
    responder_context_messages: int = Field(default=10, ge=0, le=100)
    responder_context_hours: int = Field(default=24, ge=1)
    responder_max_in_flight: int = Field(default=64, ge=1)
    # Records of one tenant (a business number) in flight at once: a tenant whose Groq is
    # slow cannot take the slots every other tenant needs.
    responder_max_in_flight_per_tenant: int = Field(default=16, ge=1)
    # Turn assembly (issue 14). The tenant's ConversationSettingsChanged decides; a tenant
    # without one uses the contract's defaults (2 s quiet, 8 s max), or this quiet time when
    # set (0: a reply per message unless the tenant asked for a window).
    responder_turn_quiet_ms: int | None = Field(default=None, ge=0, le=60000)
    # A turn holding a voice note waits this long for its transcript, then goes without it.
    responder_turn_media_wait_s: float = Field(default=30.0, gt=0)
    responder_turn_lease_s: float = Field(default=15.0, gt=0)
    responder_turn_poll_s: float = Field(default=0.2, gt=0)
    # Failed turns in a row (each after its retries) that hand a conversation to a person.
    responder_handoff_after_failures: int = Field(default=3, ge=0)
