"""Whose Groq key transcribes a tenant's voice notes: the tenant's own, else the system
fallback when the admin leaves it enabled (as the responder decides). Never another
tenant's key. Fed by the config feed; holds ciphertext only."""

from __future__ import annotations

import uuid

from shared.contracts.config_events import ConfigEvent, GroqConfigChanged, SystemSettingsChanged


class GroqKeys:
    def __init__(self) -> None:
        self._users: dict[uuid.UUID, str] = {}
        self._system: str | None = None
        self.fallback_enabled = True

    def apply(self, event: ConfigEvent) -> None:
        if isinstance(event, GroqConfigChanged):
            key = event.api_key_encrypted or None
            if event.user_id is None:
                self._system = key
            elif key is None:
                self._users.pop(event.user_id, None)
            else:
                self._users[event.user_id] = key
        elif isinstance(event, SystemSettingsChanged):
            self.fallback_enabled = event.fallback_enabled

    def encrypted_key_for(self, user_id: uuid.UUID | None) -> str | None:
        if user_id is not None and (key := self._users.get(user_id)):
            return key
        return self._system if self.fallback_enabled else None
