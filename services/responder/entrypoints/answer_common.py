"""What the per-message handler (consumers.py) shares with its wiring: its settings, its
input (one of two topics) and its metrics (with the span attributes of a model call)."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import ConsumerRecord
from opentelemetry.trace import Span
from prometheus_client import Counter, Histogram

from services.responder.adapters.groq_client import Completion
from services.responder.domain.retry import RetryPolicy
from shared.contracts.media import MediaResolved
from shared.contracts.messages import UserIdentified
from shared.contracts.topics import MESSAGES_MEDIA

OUTCOMES = Counter("responder_outcomes_total", "Replies and failures", ["outcome", "config_source"])
RETRIES = Counter("responder_retries_total", "Groq calls deferred to a later try", ["reason"])
TOKENS = Counter(
    "responder_tokens_total",
    "Groq tokens by tenant ('fallback' for the system config) and kind",
    ["tenant", "kind"],
)
MEDIA_WITHOUT_TEXT = Counter(
    "responder_media_without_text_total", "Voice notes, images… without a caption, not answered"
)
GROQ_LATENCY = Histogram(
    "responder_groq_seconds",
    "Groq call latency",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)


def record_usage(span: Span, tenant: str, model: str, completion: Completion) -> None:
    """A model call's model and tokens, on its span and in the tenant's token counts."""
    span.set_attribute("gen_ai.request.model", model)
    if completion.prompt_tokens is not None:
        span.set_attribute("gen_ai.usage.input_tokens", completion.prompt_tokens)
    if completion.completion_tokens is not None:
        span.set_attribute("gen_ai.usage.output_tokens", completion.completion_tokens)
    TOKENS.labels(tenant, "input").inc(completion.prompt_tokens or 0)
    TOKENS.labels(tenant, "output").inc(completion.completion_tokens or 0)


Inbound = UserIdentified | MediaResolved


def parse_inbound(record: ConsumerRecord) -> Inbound:
    """messages.identified.v1 holds UserIdentified; messages.media.v1 MediaResolved."""
    if record.topic == MESSAGES_MEDIA.name:
        return MediaResolved.model_validate_json(record.value)
    return UserIdentified.model_validate_json(record.value)


@dataclass(frozen=True)
class AnswerSettings:
    system_prompt: str
    default_base_url: str
    retry: RetryPolicy
