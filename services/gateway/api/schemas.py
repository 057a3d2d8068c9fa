"""The seed's api-chatbot contract: the request it accepts and the answers it gives."""

from __future__ import annotations

import hashlib
import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from shared.contracts.messages import FailureReason, ResponseFailed, ResponseGenerated
from shared.jsonlimits import has_unsafe_characters

NOT_CONFIGURED = "Service de messagerie non configuré. Veuillez contacter l'administrateur."
RATE_LIMITED = "Trop de messages en ce moment. Veuillez réessayer dans un instant."
TRANSIENT = "Failed to process message. Please try again."


def _storable(value: str) -> str:
    """A lone surrogate cannot be encoded to UTF-8 and NUL cannot be stored by PostgreSQL.
    The caller can fix its input, so it is told (422) rather than having its text changed."""
    if has_unsafe_characters(value):
        raise ValueError("must not contain NUL or a lone UTF-16 surrogate")
    return value


NonBlank = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_storable)
]


class ChatbotRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: Annotated[NonBlank, StringConstraints(max_length=4096)]
    source: Annotated[NonBlank, StringConstraints(max_length=64)]
    phoneNumber: Annotated[NonBlank, StringConstraints(max_length=64)]
    messageId: Annotated[NonBlank, StringConstraints(max_length=200)] | None = None
    businessPhoneNumber: Annotated[NonBlank, StringConstraints(max_length=64)] | None = None

    def fingerprint(self) -> str:
        """Same messageId with a different message is a client bug, not a retry."""
        material = "\x1f".join(
            [self.text, self.source, self.phoneNumber, self.businessPhoneNumber or ""]
        )
        return hashlib.sha256(material.encode()).hexdigest()


Answer = tuple[int, dict[str, Any]]


def bad_request(error: str, status: int = 400) -> Answer:
    return status, {"success": False, "error": error, "retryable": False}


def transient(status: int = 503) -> Answer:
    return status, {"success": False, "error": TRANSIENT, "retryable": True}


def config_required() -> Answer:
    return 503, {
        "success": False,
        "error": NOT_CONFIGURED,
        "retryable": False,
        "configRequired": True,
    }


_CONFIG_PROBLEMS = {
    FailureReason.CONFIG_REQUIRED,
    FailureReason.PROVIDER_AUTH,
    FailureReason.PROVIDER_REJECTED,
}


def answer_for(outcome: ResponseGenerated | ResponseFailed, trace_id: str | None) -> Answer:
    if isinstance(outcome, ResponseGenerated):
        return 200, {
            "success": True,
            "response": outcome.response,
            "messageId": outcome.message_id,
            "userId": str(outcome.user_id) if outcome.user_id else None,
            "traceId": trace_id,
        }
    if outcome.reason in _CONFIG_PROBLEMS:
        return config_required()
    if outcome.reason is FailureReason.RATE_LIMITED:
        return rate_limited(outcome)
    return transient(503)


def rate_limited(outcome: ResponseFailed) -> Answer:
    """Issue 16: over the tenant's message limit or the customer's flood guard. The
    Retry-After seconds ride under RETRY_AFTER, which the route turns into the header."""
    return 429, {
        "success": False,
        "error": outcome.customer_text or RATE_LIMITED,
        "retryable": True,
        RETRY_AFTER: max(1, math.ceil(outcome.retry_after_s or 60)),  # whole seconds (RFC 9110)
    }


RETRY_AFTER = "_retry_after"  # never sent in a body: see chatbot.py's _reply


def is_final(outcome: ResponseGenerated | ResponseFailed) -> bool:
    """A retryable failure is re-processed when the caller retries the same messageId."""
    return isinstance(outcome, ResponseGenerated) or not outcome.retryable


def describe_errors(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        field = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{field}: {error['msg']}")
    return "; ".join(parts)
