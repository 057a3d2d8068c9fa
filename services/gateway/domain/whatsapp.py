"""Meta's webhook payload, read into what the gateway acts on. Pure: no I/O.

Rule for message types (documented in the README):
- text → its body; button → its text; interactive → the chosen reply's title;
  image / video / document with a caption → the caption. These are answered.
- everything else (audio, sticker, location, contacts, reaction, a media message without
  caption, unsupported, unknown types) is recorded as received and not answered.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any


class PayloadError(ValueError):
    """The body is JSON but not a WhatsApp Business Account webhook."""


@dataclass(frozen=True)
class InboundMessage:
    wamid: str
    customer: str
    phone_number_id: str
    display_phone_number: str | None
    message_type: str
    text: str | None  # None: recorded, not answered


@dataclass(frozen=True)
class StatusReceipt:
    wamid: str
    status: str
    recipient: str | None
    phone_number_id: str
    timestamp: str | None
    errors: list[dict[str, Any]]


@dataclass
class Delivery:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusReceipt] = field(default_factory=list)
    phone_number_ids: set[str] = field(default_factory=set)


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


def _text_of(message: dict[str, Any]) -> str | None:
    kind = message.get("type")
    body: Any = None
    if kind == "text":
        body = (message.get("text") or {}).get("body")
    elif kind == "button":
        body = (message.get("button") or {}).get("text")
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        body = reply.get("title")
    elif kind in ("image", "video", "document"):
        body = (message.get(kind) or {}).get("caption")
    return body.strip() if isinstance(body, str) and body.strip() else None


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{where} must be a list")
    return value


def parse_delivery(payload: Any) -> Delivery:
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise PayloadError("not a whatsapp_business_account webhook")
    delivery = Delivery()
    for entry in _list(payload.get("entry"), "entry"):
        for change in _list((entry or {}).get("changes"), "entry[].changes"):
            value = (change or {}).get("value")
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata") or {}
            number_id = metadata.get("phone_number_id")
            if not isinstance(number_id, str) or not number_id:
                raise PayloadError("value.metadata.phone_number_id is missing")
            delivery.phone_number_ids.add(number_id)
            display = metadata.get("display_phone_number")
            for message in _list(value.get("messages"), "value.messages"):
                if (
                    not isinstance(message, dict)
                    or not message.get("id")
                    or not message.get("from")
                ):
                    raise PayloadError("a message needs an id and a from")
                delivery.messages.append(
                    InboundMessage(
                        wamid=str(message["id"]),
                        customer=str(message["from"]),
                        phone_number_id=number_id,
                        display_phone_number=str(display) if display else None,
                        message_type=str(message.get("type") or "unknown"),
                        text=_text_of(message),
                    )
                )
            for status in _list(value.get("statuses"), "value.statuses"):
                if not isinstance(status, dict) or not status.get("id"):
                    continue
                delivery.statuses.append(
                    StatusReceipt(
                        wamid=str(status["id"]),
                        status=str(status.get("status") or "unknown"),
                        recipient=status.get("recipient_id"),
                        phone_number_id=number_id,
                        timestamp=status.get("timestamp"),
                        errors=[
                            e for e in _list(status.get("errors"), "errors") if isinstance(e, dict)
                        ],
                    )
                )
    return delivery
