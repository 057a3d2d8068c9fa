"""Twilio status callbacks (the `StatusCallback` set on each Messages API send). Pure.

Twilio posts form fields to that URL as a message moves on: `MessageSid`, `MessageStatus`
(queued, sent, delivered, read, undelivered, failed…), `From` (our number, `whatsapp:`-
prefixed on WhatsApp), `To` (the customer) and, on undelivered / failed, `ErrorCode`. Each
becomes a `DeliveryStatusReported` like a WhatsApp status, its ErrorCode classified by
`delivery_errors` (63016 window_closed, 21610/21614 final, 20429/63018 back off…).
"""

from __future__ import annotations

from services.gateway.domain.delivery_errors import status_reason
from services.gateway.domain.whatsapp import ID_MAX, NUMBER_MAX, PayloadError
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel
from shared.phones import normalize_phone

# What Twilio documents for MessageStatus; anything else is acknowledged and ignored.
STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "canceled",
    }
)  # partially_delivered (19 characters, over delivery_receipts.status) is not ours: no MMS


def twilio_receipt(params: dict[str, str]) -> DeliveryStatusReported | None:
    """The receipt a status callback reports; None for a status Twilio does not document
    (ignored, not refused: Twilio may add statuses). Raises `PayloadError` when the
    callback names no message or no status."""
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "").lower()
    if not sid or not status:
        raise PayloadError("MessageSid and MessageStatus are required")
    if len(sid) > ID_MAX:
        raise PayloadError("MessageSid is too long")
    if status not in STATUSES:
        return None
    code = params.get("ErrorCode", "").strip()
    errors: list[dict[str, object]] = []
    if code.isdigit() and len(code) <= 9:
        errors.append({"code": int(code), "title": params.get("ErrorMessage", "")[:200]})
    recipient = params.get("To", "").removeprefix("whatsapp:")
    return DeliveryStatusReported(
        channel=Channel.TWILIO,
        provider_message_id=sid,
        status=status,
        recipient=normalize_phone(recipient) if 0 < len(recipient) <= NUMBER_MAX else None,
        timestamp=None,  # Twilio sends none; the receipt row keeps when it came
        errors=errors,
        reason=status_reason(status, errors),
    )
