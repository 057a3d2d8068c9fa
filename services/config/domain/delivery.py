"""Where a message's reply stands, from its timeline's events (pure).

The gateway's own verdict comes first (`ReplyDelivered`: the provider accepted every part;
`ReplyFailed`: not sent, with its reason); the provider's status callbacks of the parts
(`DeliveryStatusReported`, joined on their provider message ids) then tell what became of
it. A failure reported after the send (131047 past the window, 131026 undeliverable,
Twilio's undelivered 63016…) turns an accepted reply into a failed one with that reason:
Meta accepts such a send and reports the failure only later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SENT, DELIVERED, READ, FAILED = "sent", "delivered", "read", "failed"
_PROGRESS = {SENT: 1, DELIVERED: 2, READ: 3}
FAILED_STATUSES = frozenset({"failed", "undelivered"})


@dataclass(frozen=True)
class DeliveryState:
    status: str  # sent | delivered | read | failed
    reason: str | None
    error_code: int | None
    settled_by: str  # ReplyDelivered | ReplyFailed | DeliveryStatusReported


def delivery_state(rows: Sequence[Mapping[str, Any]]) -> DeliveryState | None:
    """`rows` are timeline rows (event_type, provider_message_id, summary), oldest first;
    None while no reply was sent or refused."""
    verdict: Mapping[str, Any] | None = None
    for row in rows:
        if row["event_type"] in ("ReplyDelivered", "ReplyFailed"):
            verdict = row  # a later attempt's verdict replaces an earlier one
    if verdict is None:
        return None
    summary = verdict["summary"] or {}
    if verdict["event_type"] == "ReplyFailed":
        return DeliveryState(FAILED, _text(summary.get("reason")), _code(summary), "ReplyFailed")
    parts = [str(p) for p in summary.get("provider_message_ids") or []]
    reached = dict.fromkeys(parts, SENT)
    for row in rows:
        part = row.get("provider_message_id")
        if row["event_type"] != "DeliveryStatusReported" or part not in reached:
            continue
        status = str((row["summary"] or {}).get("status", ""))
        if status in FAILED_STATUSES:
            receipt = row["summary"] or {}
            codes = receipt.get("error_codes") or []
            code = codes[0] if codes and isinstance(codes[0], int) else None
            reason = _text(receipt.get("reason")) or "provider_rejected"
            return DeliveryState(FAILED, reason, code, "DeliveryStatusReported")
        if _PROGRESS.get(status, 0) > _PROGRESS[reached[part]]:
            reached[part] = status
    # every part has to get there: the reply is as far as its slowest part
    least = min(reached.values(), key=_PROGRESS.__getitem__, default=SENT)
    settled_by = "ReplyDelivered" if least == SENT else "DeliveryStatusReported"
    return DeliveryState(least, None, None, settled_by)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _code(summary: Mapping[str, Any]) -> int | None:
    code = summary.get("error_code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None
