"""Which tenant owns which Twilio number, with the credentials to verify and reply."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.contracts.config_events import ConfigEvent, TwilioConfigChanged
from shared.phones import normalize_phone


@dataclass(frozen=True)
class TwilioAccount:
    user_id: uuid.UUID
    account_sid: str
    phone_number: str
    auth_token_encrypted: str


class TwilioDirectory:
    def __init__(self) -> None:
        self._by_user: dict[uuid.UUID, TwilioAccount] = {}
        self._by_number: dict[str, TwilioAccount] = {}

    def apply(self, event: ConfigEvent) -> None:
        if not isinstance(event, TwilioConfigChanged):
            return
        previous = self._by_user.pop(event.user_id, None)
        if previous is not None and self._by_number.get(previous.phone_number) is previous:
            del self._by_number[previous.phone_number]
        if (
            event.is_active
            and event.phone_number
            and event.account_sid
            and event.auth_token_encrypted
        ):
            account = TwilioAccount(
                user_id=event.user_id,
                account_sid=event.account_sid,
                phone_number=normalize_phone(event.phone_number),
                auth_token_encrypted=event.auth_token_encrypted,
            )
            self._by_user[event.user_id] = account
            self._by_number[account.phone_number] = account

    def by_number(self, raw: str) -> TwilioAccount | None:
        """Twilio writes WhatsApp numbers as `whatsapp:+1415…`; SMS numbers plain."""
        return self._by_number.get(normalize_phone(raw.removeprefix("whatsapp:")))
