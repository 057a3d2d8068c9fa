"""Meta's webhook payload, read into what the gateway acts on. Pure: no I/O.

Rule for message types (documented in the README):
- text → its body; button → its text; interactive → the chosen reply's title.
- audio / image / video / document / sticker → a MediaRef, text = the caption or "";
  the media service resolves it (transcript, image, document text or a polite text).
- everything else (location, contacts, reaction, unsupported, unknown types) is recorded
  as received and not answered.

Hostile shapes (a list where an object belongs, an id that is not a string or is longer
than its column) raise PayloadError, never an AttributeError or a database error later.
Labels (type, status) that do not fit are cut or read as "unknown"; optional fields that do
not fit are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from services.gateway.domain.media import whatsapp_media
from shared.contracts.messages import MediaRef


class PayloadError(ValueError):
    """The body is JSON but not a WhatsApp Business Account webhook."""


ID_MAX = 256  # inbound_messages.message_id, delivery_receipts.provider_message_id
NUMBER_MAX = 64  # phone numbers and phone number ids (the conversation key holds two)
KIND_MAX, STATUS_MAX, TIMESTAMP_MAX = 32, 16, 32  # their columns
# `"phone_number_id": "<id>"` written plainly; an id written with escapes is not found here
# and is checked once the signed body has been parsed.
_NUMBER_ID = re.compile(rb'"phone_number_id"\s*:\s*"([^"\\]{1,%d})"' % NUMBER_MAX)


@dataclass(frozen=True)
class InboundMessage:
    wamid: str
    customer: str
    phone_number_id: str
    display_phone_number: str | None
    message_type: str
    text: str | None  # None: recorded, not answered
    media: MediaRef | None = None  # a voice note, image, document…: text is its caption or ""


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


def phone_number_ids_in(raw: bytes) -> set[str]:
    """The phone number ids a raw body names, found without parsing it: they choose the app
    secrets its signature is checked with before anything reads it as JSON."""
    return {m.decode("utf-8", "replace") for m in _NUMBER_ID.findall(raw)}


def _object(value: Any, key: str) -> dict[str, Any]:
    """`value[key]` when both are objects, else {} (a wrong shape reads as absent)."""
    inner = value.get(key) if isinstance(value, dict) else None
    return inner if isinstance(inner, dict) else {}


def _text_of(message: dict[str, Any]) -> str | None:
    kind = message.get("type")
    body: Any = None
    if kind == "text":
        body = _object(message, "text").get("body")
    elif kind == "button":
        body = _object(message, "button").get("text")
    elif kind == "interactive":
        interactive = _object(message, "interactive")
        reply = _object(interactive, "button_reply") or _object(interactive, "list_reply")
        body = reply.get("title")
    elif kind in ("image", "video", "document"):
        body = _object(message, kind).get("caption")
    return body.strip() if isinstance(body, str) and body.strip() else None


def _id(value: Any, limit: int) -> str | None:
    """A provider id: a non-blank string (or an integer) of at most `limit` characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.strip() and len(value) <= limit:
        return value
    return None


def _label(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) and value else "unknown"


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{where} must be a list")
    return value


def _errors(value: Any) -> list[dict[str, Any]]:
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def parse_delivery(payload: Any) -> Delivery:
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise PayloadError("not a whatsapp_business_account webhook")
    delivery = Delivery()
    for entry in _list(payload.get("entry"), "entry"):
        if not isinstance(entry, dict | None):
            raise PayloadError("entry[] must hold objects")
        for change in _list((entry or {}).get("changes"), "entry[].changes"):
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict):
                _parse_change(value, delivery)
    return delivery


def _parse_change(value: dict[str, Any], delivery: Delivery) -> None:
    """One change of one business number: its messages and its statuses."""
    metadata = _object(value, "metadata")
    number_id = _id(metadata.get("phone_number_id"), NUMBER_MAX)
    if number_id is None:
        raise PayloadError("value.metadata.phone_number_id is missing")
    delivery.phone_number_ids.add(number_id)
    display = _id(metadata.get("display_phone_number"), NUMBER_MAX)
    for message in _list(value.get("messages"), "value.messages"):
        wamid = _id(message.get("id"), ID_MAX) if isinstance(message, dict) else None
        customer = _id(message.get("from"), NUMBER_MAX) if wamid else None
        if not isinstance(message, dict) or wamid is None or customer is None:
            raise PayloadError("a message needs an id and a from")
        media = whatsapp_media(message)
        text = _text_of(message)
        delivery.messages.append(
            InboundMessage(
                wamid=wamid,
                customer=customer,
                phone_number_id=number_id,
                display_phone_number=display,
                message_type=_label(message.get("type"), KIND_MAX),
                text=(text or "") if media is not None else text,
                media=media,
            )
        )
    # A status of an unexpected shape is ignored, never refused: it cannot start
    # anything, and a refused signed body would be redelivered for 7 days.
    statuses = value.get("statuses")
    for status in statuses if isinstance(statuses, list) else []:
        receipt_id = _id(status.get("id"), ID_MAX) if isinstance(status, dict) else None
        if not isinstance(status, dict) or receipt_id is None:
            continue
        delivery.statuses.append(
            StatusReceipt(
                wamid=receipt_id,
                status=_label(status.get("status"), STATUS_MAX),
                recipient=_id(status.get("recipient_id"), NUMBER_MAX),
                phone_number_id=number_id,
                timestamp=_id(status.get("timestamp"), TIMESTAMP_MAX),
                errors=_errors(status.get("errors")),
            )
        )
