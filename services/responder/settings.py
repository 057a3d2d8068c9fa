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
    groq_max_retries: int = Field(default=2, ge=0)
    responder_system_prompt: str = DEFAULT_SYSTEM_PROMPT
    responder_context_messages: int = Field(default=10, ge=0, le=100)
    responder_context_hours: int = Field(default=24, ge=1)
    responder_max_in_flight: int = Field(default=64, ge=1)
