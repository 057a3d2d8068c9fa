"""The WhatsApp 24-hour customer-service window. Pure: no I/O.

Free-form replies may leave only within 24 h of the customer's last inbound message;
after that only an approved template. The responder says when the customer last wrote
(`ResponseGenerated.customer_last_seen_at`); without it the gateway falls back to when it
accepted the message itself. With neither (a record from before either existed) the reply
is sent as before: refusing it would lose replies that are within the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.contracts.messages import Channel, ResponseGenerated

WINDOW = timedelta(hours=24)


def parse_time(value: str | None) -> datetime | None:
    """An ISO time, read as UTC when it carries no zone; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def has_window(outcome: ResponseGenerated) -> bool:
    """WhatsApp replies, through Meta or through Twilio; Twilio SMS has no such window."""
    if outcome.channel == Channel.WHATSAPP:
        return True
    return outcome.channel == Channel.TWILIO and outcome.source == "whatsapp"


def last_seen(outcome: ResponseGenerated, accepted_at: datetime | None) -> datetime | None:
    return parse_time(outcome.customer_last_seen_at) or accepted_at


def window_closed(seen: datetime | None, now: datetime) -> bool:
    """Whether a reply leaving at `now` is past the window (unknown: not closed)."""
    return seen is not None and now - seen >= WINDOW
