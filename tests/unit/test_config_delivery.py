"""Where a reply stands on the monitoring API's timeline, from projected events: the
gateway's verdict, then the provider's statuses of its parts; a failure reported after the
send (131026, 131047, Twilio's undelivered 63016) makes the reply failed with that reason."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

from services.config.domain.delivery import DeliveryState, delivery_state
from services.config.domain.projection import project
from shared.contracts.deliveries import DeliveryStatusReported, ReplyDelivered, ReplyFailed
from shared.contracts.messages import Channel
from shared.contracts.topics import MESSAGE_DELIVERIES

MESSAGE = "wamid.IN1"
KEY = "whatsapp:PN1:+33612345678"


def _rows(*events: BaseModel) -> list[dict[str, Any]]:
    """As the timeline query returns them: projected rows, oldest first."""
    rows = []
    for event in events:
        projected = project(MESSAGE_DELIVERIES.name, event.model_dump_json().encode(), None)
        rows.append(
            {
                "event_type": projected.event_type,
                "provider_message_id": projected.provider_message_id,
                "summary": projected.summary,
            }
        )
    return rows


def _delivered(*parts: str) -> ReplyDelivered:
    return ReplyDelivered(
        message_id=MESSAGE,
        conversation_key=KEY,
        user_id=uuid.uuid4(),
        channel=Channel.WHATSAPP,
        provider_message_ids=list(parts),
        parts=len(parts),
    )


def _status(part: str, status: str, code: int | None = None, reason: str | None = None) -> Any:
    return DeliveryStatusReported(
        channel=Channel.WHATSAPP,
        provider_message_id=part,
        status=status,
        errors=[{"code": code}] if code is not None else [],
        reason=reason,
    )


def test_no_verdict_yet_is_no_state() -> None:
    assert delivery_state([]) is None
    assert delivery_state(_rows(_status("wamid.OUT1", "sent"))) is None


def test_an_accepted_reply_goes_as_far_as_its_slowest_part() -> None:
    rows = _rows(
        _delivered("wamid.A", "wamid.B"),
        _status("wamid.A", "delivered"),
        _status("wamid.A", "read"),
        _status("wamid.B", "delivered"),
        _status("wamid.B", "sent"),  # late and out of order: changes nothing
        _status("wamid.OTHER", "failed", 131026, "undeliverable"),  # not one of ours
    )

    assert delivery_state(rows) == DeliveryState("delivered", None, None, "DeliveryStatusReported")
    assert delivery_state(_rows(_delivered("wamid.A"))) == DeliveryState(
        "sent", None, None, "ReplyDelivered"
    )


def test_a_failure_reported_after_the_send_makes_the_reply_failed_with_its_reason() -> None:
    rows = _rows(
        _delivered("wamid.A", "wamid.B"),
        _status("wamid.A", "delivered"),
        _status("wamid.B", "failed", 131047, "window_closed"),
    )

    assert delivery_state(rows) == DeliveryState(
        "failed", "window_closed", 131047, "DeliveryStatusReported"
    )


def test_twilio_undelivered_is_failed_too() -> None:
    status = _status("SM1", "undelivered", 63016, "window_closed")
    rows = _rows(_delivered("SM1"), status.model_copy(update={"channel": Channel.TWILIO}))

    state = delivery_state(rows)

    assert state is not None and (state.status, state.reason) == ("failed", "window_closed")


def test_a_reply_not_sent_is_failed_with_the_gateways_reason() -> None:
    failed = ReplyFailed(
        message_id=MESSAGE,
        conversation_key=KEY,
        user_id=None,
        channel=Channel.WHATSAPP,
        reason="token_expired",
        error_code=190,
        attempts=1,
    )

    assert delivery_state(_rows(failed)) == DeliveryState(
        "failed", "token_expired", 190, "ReplyFailed"
    )
