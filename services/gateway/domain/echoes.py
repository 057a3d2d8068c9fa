"""Business replies echoed from the phone (`smb_message_echoes`, coexistence numbers).
Pure: no I/O.

When the business answers a customer from the WhatsApp Business app, Meta sends the
message back on the `smb_message_echoes` webhook field:

    {"field": "smb_message_echoes", "value": {"metadata": {"phone_number_id": …},
     "message_echoes": [{"from": <business>, "to": <customer>, "id": <wamid>,
                         "timestamp": …, "type": "text", "text": {"body": …}}]}}

That is the signal that a human has taken the conversation over. An echo without an id or
a customer, or of the wrong shape, is skipped here (the body is stored as received by the
webhook and never answered 5xx for it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.gateway.domain.whatsapp import ID_MAX, KIND_MAX, NUMBER_MAX
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
)
from shared.contracts.messages import Channel, conversation_key
from shared.phones import normalize_phone

FIELD = "smb_message_echoes"


@dataclass(frozen=True)
class Echo:
    wamid: str
    phone_number_id: str
    customer: str  # normalized E.164
    message_type: str

    @property
    def conversation_key(self) -> str:
        return conversation_key(Channel.WHATSAPP, self.phone_number_id, self.customer)


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.strip() and len(value) <= limit:
        return value.strip()
    return None


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def echoes_in(payload: Any) -> list[Echo]:
    """The well-formed echoes of a (signed, parsed) webhook body; never raises."""
    found: list[Echo] = []
    if not isinstance(payload, dict):
        return found
    for entry in _items(payload.get("entry")):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in _items(changes):
            if not isinstance(change, dict) or change.get("field") != FIELD:
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata")
            number_id = _text(
                metadata.get("phone_number_id") if isinstance(metadata, dict) else None,
                NUMBER_MAX,
            )
            for echo in _items(value.get("message_echoes")):
                if not isinstance(echo, dict) or number_id is None:
                    continue
                wamid, to = _text(echo.get("id"), ID_MAX), _text(echo.get("to"), NUMBER_MAX)
                if wamid is None or to is None:
                    continue
                kind = echo.get("type")
                found.append(
                    Echo(
                        wamid=wamid,
                        phone_number_id=number_id,
                        customer=normalize_phone(to),
                        message_type=kind[:KIND_MAX]
                        if isinstance(kind, str) and kind
                        else "unknown",
                    )
                )
    return found


def human_takes_over(
    echo: Echo, user_id: uuid.UUID, now: datetime, human_expiry_s: int
) -> ConversationOwnerChanged:
    """The owner change an echo means: a human answers until the tenant's expiry."""
    return ConversationOwnerChanged(
        user_id=user_id,
        conversation_key=echo.conversation_key,
        owner=ConversationOwner.HUMAN,
        until=now + timedelta(seconds=human_expiry_s),
        changed_by=OwnerChangedBy.BUSINESS_ECHO,
        message_id=echo.wamid,
        reason="the business answered from the phone",
    )
