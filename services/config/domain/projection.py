"""A message-topic record as one row of the config service's event projection (pure).

Only what monitoring and the timeline need is kept: ids, times, the emitting service, the
trace id, and a small whitelisted summary. Message text is kept only for messages that
found no tenant (the unassociated list shows it, as the seed's query did); secrets are
never in these events to begin with, and nothing outside the whitelist is copied.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.contracts.topics import (
    CONVERSATION_OWNERS,
    GROQ_HEALTH,
    MESSAGE_DELIVERIES,
    MESSAGE_OUTCOMES,
    MESSAGES_IDENTIFIED,
    MESSAGES_MEDIA,
    MESSAGES_RECEIVED,
)

SERVICE_BY_TOPIC = {
    MESSAGES_RECEIVED.name: "gateway",
    MESSAGES_IDENTIFIED.name: "identity",
    MESSAGE_OUTCOMES.name: "responder",
    MESSAGE_DELIVERIES.name: "gateway",
    MESSAGES_MEDIA.name: "media",
    CONVERSATION_OWNERS.name: "responder",  # by default; the writer follows changed_by
    GROQ_HEALTH.name: "responder",  # issue 16: key failures, counted in the usage
}
PROJECTED_TOPICS = tuple(SERVICE_BY_TOPIC)
# conversations.owner.v1 has three writers: which one, from who changed the owner.
_OWNER_WRITERS = {"tenant_api": "config", "business_echo": "gateway"}

_SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    "MessageReceived": (
        "channel",
        "source",
        "message_type",
        "customer_phone",
        "business_phone",
        "phone_number_id",
        "received_at",
    ),
    "UserIdentified": ("channel", "identified_by", "customer_phone", "business_phone"),
    "ResponseGenerated": (
        "channel",
        "config_source",
        "model",
        "prompt_tokens",
        "completion_tokens",
        # issue 16 (usage per key): the key that answered and Groq's x-ratelimit-* values
        "key_id",
        "rate_limits",
        "model_fallback_reason",
    ),
    "GroqKeyFailed": ("key_id", "model", "kind", "status", "code", "retry_after_s"),
    "ResponseFailed": ("channel", "reason", "retryable", "detail"),
    "ReplyDelivered": ("channel", "parts", "provider_message_ids"),
    "ReplyFailed": ("channel", "reason", "status_code", "error_code", "attempts", "detail"),
    "DeliveryStatusReported": ("channel", "status", "reason", "recipient", "timestamp"),
    # Never image_data_url: the timeline shows what the media became, not its bytes.
    "MediaResolved": (
        "channel",
        "kind",
        "outcome",
        "language",
        "reason",
        "audio_seconds",
        "size_bytes",
        "vision_model",
        "caption",
    ),
    "TurnStarted": ("channel", "turn_message_ids"),
    "ConversationOwnerChanged": (
        "conversation_key",
        "owner",
        "until",
        "changed_by",
        "actor",
        "reason",
    ),
}
UNASSOCIATED_TEXT_LIMIT = 4096
_DETAIL_LIMIT = 500
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


class UnreadableEvent(ValueError):
    """Not JSON, or without the envelope fields every event carries."""


@dataclass(frozen=True)
class ProjectedEvent:
    event_id: uuid.UUID
    event_type: str
    service: str
    topic: str
    message_id: str | None
    attempt: int | None
    user_id: uuid.UUID | None
    provider_message_id: str | None
    occurred_at: datetime
    trace_id: str | None
    summary: dict[str, Any]
    # Not a column of message_events: the conversations read model groups by it.
    conversation_key: str | None = None


def trace_id_from(headers: Iterable[tuple[str, bytes]] | None) -> str | None:
    """The trace id of a W3C `traceparent` header, if the record has a valid one."""
    for name, value in headers or ():
        if name.lower() == "traceparent":
            match = _TRACEPARENT.match(value.decode("ascii", "replace").strip().lower())
            if match and match.group(1) != "0" * 32:
                return match.group(1)
    return None


def project(
    topic: str, value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> ProjectedEvent:
    try:
        event = json.loads(value or b"")
        if not isinstance(event, dict):
            raise TypeError("not an object")
        event_id = uuid.UUID(str(event["event_id"]))
        occurred_at = datetime.fromisoformat(str(event["occurred_at"]))
        event_type = str(event["event_type"])[:64]
    except (ValueError, KeyError, TypeError) as exc:
        raise UnreadableEvent(type(exc).__name__) from exc
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    user_id = _uuid_or_none(event.get("user_id"))
    service = SERVICE_BY_TOPIC.get(topic, "unknown")
    if event_type == "ConversationOwnerChanged":
        service = _OWNER_WRITERS.get(str(event.get("changed_by")), service)
    return ProjectedEvent(
        event_id=event_id,
        event_type=event_type,
        service=service,
        topic=topic,
        message_id=_text_or_none(event.get("message_id"), 256),
        attempt=event["attempt"] if isinstance(event.get("attempt"), int) else None,
        user_id=user_id,
        provider_message_id=(
            _text_or_none(event.get("provider_message_id"), 256)
            if event_type == "DeliveryStatusReported"
            else None
        ),
        occurred_at=occurred_at,
        trace_id=trace_id_from(headers),
        summary=summarize(event_type, event, identified=user_id is not None),
        conversation_key=_text_or_none(event.get("conversation_key"), 512),
    )


def summarize(event_type: str, event: dict[str, Any], *, identified: bool) -> dict[str, Any]:
    summary = {
        name: event[name]
        for name in _SUMMARY_FIELDS.get(event_type, ())
        if event.get(name) is not None
    }
    for name in ("detail", "reason"):
        if isinstance(summary.get(name), str):
            summary[name] = summary[name][:_DETAIL_LIMIT]
    if event_type == "MessageReceived" and isinstance(event.get("text"), str):
        summary["text_length"] = len(event["text"])
    if event_type == "UserIdentified" and not identified and isinstance(event.get("text"), str):
        summary["text"] = event["text"][:UNASSOCIATED_TEXT_LIMIT]
    if event_type == "ResponseGenerated" and isinstance(event.get("response"), str):
        summary["response_length"] = len(event["response"])
    if event_type == "MediaResolved" and isinstance(event.get("text"), str):
        summary["text"] = event["text"][:UNASSOCIATED_TEXT_LIMIT]  # the transcript
    if event_type == "DeliveryStatusReported" and isinstance(event.get("errors"), list):
        summary["error_codes"] = [
            error.get("code") for error in event["errors"] if isinstance(error, dict)
        ]
    return summary


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _text_or_none(value: object, limit: int) -> str | None:
    return str(value)[:limit] if value is not None else None
