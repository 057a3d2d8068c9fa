from __future__ import annotations

from pydantic import Field

from shared.settings import BaseServiceSettings


class MediaSettings(BaseServiceSettings):
    media_port: int = 8004
    whatsapp_graph_url: str = "https://graph.facebook.com"
    whatsapp_graph_version: str = "v21.0"
    twilio_api_url: str = "https://api.twilio.com"
    groq_base_url: str = "https://api.groq.com"
    media_timeout_s: float = Field(default=30.0, gt=0, description="Per download or upload")
    media_retry_budget_s: float = Field(
        default=120.0, ge=0, description="How long a 429/5xx is retried before FAILED"
    )
    media_max_in_flight: int = Field(default=32, ge=1)
    media_document_text_limit: int = Field(
        default=20_000, ge=1, description="Characters of a PDF or text document kept"
    )
