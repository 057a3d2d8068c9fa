"""Provider error codes, classified as Meta (and Twilio) document them. Pure: no I/O.

Built on the numeric `code`, never on titles. An error arrives either synchronously (the
Graph answer to a send) or later on the status webhook (`statuses[].errors[]`); both are
named by the same reasons, which reach ReplyFailed, the timeline and the metrics:

- final: the message will never be delivered (131026 undeliverable, 131051 unsupported
  type, 131052/131053 media; Twilio 21610 unsubscribed, 21614 not a mobile number, 30003/
  30005/30006 unreachable, 30007 carrier filtered).
- back off: too fast for the business number (130429 throughput, 131048 spam limit; Twilio
  20429 too many requests, 63018 WhatsApp sender rate): this reply and the number's other
  replies wait, then go out.
- pace: too fast for this customer (131056 pair rate limit): the remaining parts of a
  split reply leave about 6 s apart.
- tenant action: the tenant must act (190 token expired, 131047 / Twilio 63016 the 24-hour
  window has closed: only a template may be sent).
- transient (131000, 131016): the same request may succeed later.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    FINAL = "final"
    BACK_OFF = "back_off"
    PACE = "pace"
    TENANT_ACTION = "tenant_action"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProviderErrorClass:
    kind: ErrorKind
    reason: str  # the name ReplyFailed, the timeline and the metrics carry

    @property
    def retryable(self) -> bool:
        return self.kind in (ErrorKind.BACK_OFF, ErrorKind.PACE, ErrorKind.TRANSIENT)


_CODES: dict[int, ProviderErrorClass] = {
    131026: ProviderErrorClass(ErrorKind.FINAL, "undeliverable"),
    131051: ProviderErrorClass(ErrorKind.FINAL, "unsupported_type"),
    131052: ProviderErrorClass(ErrorKind.FINAL, "media_download_failed"),
    131053: ProviderErrorClass(ErrorKind.FINAL, "media_upload_failed"),
    130429: ProviderErrorClass(ErrorKind.BACK_OFF, "throughput_exceeded"),
    131048: ProviderErrorClass(ErrorKind.BACK_OFF, "spam_rate_limited"),
    131056: ProviderErrorClass(ErrorKind.PACE, "pair_rate_limited"),
    190: ProviderErrorClass(ErrorKind.TENANT_ACTION, "token_expired"),
    131047: ProviderErrorClass(ErrorKind.TENANT_ACTION, "window_closed"),
    63016: ProviderErrorClass(ErrorKind.TENANT_ACTION, "window_closed"),  # Twilio's
    # Twilio's codes (a 5-digit space of their own, no clash with Meta's)
    21610: ProviderErrorClass(ErrorKind.FINAL, "recipient_unsubscribed"),
    21614: ProviderErrorClass(ErrorKind.FINAL, "not_a_mobile_number"),
    30003: ProviderErrorClass(ErrorKind.FINAL, "undeliverable"),
    30005: ProviderErrorClass(ErrorKind.FINAL, "undeliverable"),
    30006: ProviderErrorClass(ErrorKind.FINAL, "undeliverable"),
    30007: ProviderErrorClass(ErrorKind.FINAL, "carrier_filtered"),
    20429: ProviderErrorClass(ErrorKind.BACK_OFF, "throughput_exceeded"),
    63018: ProviderErrorClass(ErrorKind.BACK_OFF, "throughput_exceeded"),
    131000: ProviderErrorClass(ErrorKind.TRANSIENT, "provider_unavailable"),
    131016: ProviderErrorClass(ErrorKind.TRANSIENT, "provider_unavailable"),
}
UNCLASSIFIED = ProviderErrorClass(ErrorKind.UNKNOWN, "provider_rejected")
RATE_REASONS = frozenset(
    c.reason for c in _CODES.values() if c.kind in (ErrorKind.BACK_OFF, ErrorKind.PACE)
)


def classify_code(code: int | None) -> ProviderErrorClass | None:
    """The class of a documented code; None for a code we do not know (or none)."""
    return _CODES.get(code) if code is not None else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def error_code(body: Any) -> int | None:
    """`error.code` of a Graph error body (`{"error": {"code": 130429, …}}`), or Twilio's
    top-level `code`; None when the body says nothing readable."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error")
    if isinstance(inner, dict):
        return _int(inner.get("code"))
    return _int(body.get("code"))


FAILED_STATUSES = frozenset({"failed", "undelivered"})  # Twilio says undelivered too


def status_reason(status: str, errors: list[dict[str, Any]]) -> str | None:
    """The reason a status callback carries to the timeline: set on `failed` / Twilio's
    `undelivered` (the first classified code, else `provider_rejected`), None on queued /
    sent / delivered / read."""
    if status not in FAILED_STATUSES:
        return None
    for error in errors:
        known = classify_code(_int(error.get("code")))
        if known is not None:
            return known.reason
    return UNCLASSIFIED.reason
