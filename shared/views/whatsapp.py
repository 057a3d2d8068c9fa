"""Which tenant owns which WhatsApp number: active configs indexed by number and number id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.contracts.config_events import ConfigEvent, WhatsAppConfigChanged
from shared.phones import normalize_phone


@dataclass(frozen=True)
class WhatsAppAccount:
    user_id: uuid.UUID
    phone_number_id: str
    display_phone_number: str
    access_token_encrypted: str | None
    app_secret_encrypted: str | None
    verify_token_encrypted: str | None


class WhatsAppDirectory:
    def __init__(self) -> None:
        self._by_user: dict[uuid.UUID, WhatsAppAccount] = {}
        self._by_number: dict[str, WhatsAppAccount] = {}
        self._by_number_id: dict[str, WhatsAppAccount] = {}

    def apply(self, event: ConfigEvent) -> None:
        if not isinstance(event, WhatsAppConfigChanged):
            return
        previous = self._by_user.pop(event.user_id, None)
        if previous is not None:
            self._forget(previous)
        if event.is_active and event.phone_number_id and event.display_phone_number:
            account = WhatsAppAccount(
                user_id=event.user_id,
                phone_number_id=event.phone_number_id,
                display_phone_number=normalize_phone(event.display_phone_number),
                access_token_encrypted=event.access_token_encrypted,
                app_secret_encrypted=event.app_secret_encrypted,
                verify_token_encrypted=event.verify_token_encrypted,
            )
            self._by_user[event.user_id] = account
            self._by_number[account.display_phone_number] = account
            self._by_number_id[account.phone_number_id] = account

    def _forget(self, account: WhatsAppAccount) -> None:
        if self._by_number.get(account.display_phone_number) is account:
            del self._by_number[account.display_phone_number]
        if self._by_number_id.get(account.phone_number_id) is account:
            del self._by_number_id[account.phone_number_id]

    def by_phone_number_id(self, phone_number_id: str) -> WhatsAppAccount | None:
        return self._by_number_id.get(phone_number_id)

    def by_number_or_id(self, raw: str) -> WhatsAppAccount | None:
        """The seed's lookup: a display number (compared in E.164) or a phone-number id."""
        return self._by_number.get(normalize_phone(raw)) or self._by_number_id.get(raw.strip())

    def verify_tokens(self) -> list[str]:
        """The tenants' webhook verify tokens, still encrypted."""
        return [
            a.verify_token_encrypted for a in self._by_user.values() if a.verify_token_encrypted
        ]

    def __len__(self) -> int:
        return len(self._by_user)
