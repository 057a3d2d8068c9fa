"""Each tenant's conversation settings as the gateway reads them (typing, read receipts,
re-engagement template, how long a business echo hands the conversation to a human).

Follows the config feed (versions are already ordered by it); a tenant without a
`ConversationSettingsChanged` gets the contract's defaults.
"""

from __future__ import annotations

import uuid

from shared.contracts.config_events import ConfigEvent, ConversationSettingsChanged

DEFAULTS = ConversationSettingsChanged(user_id=uuid.UUID(int=0))


class ConversationSettingsView:
    def __init__(self) -> None:
        self._by_user: dict[uuid.UUID, ConversationSettingsChanged] = {}

    def apply(self, event: ConfigEvent) -> None:
        if isinstance(event, ConversationSettingsChanged):
            self._by_user[event.user_id] = event

    def of(self, user_id: uuid.UUID | None) -> ConversationSettingsChanged:
        if user_id is None:
            return DEFAULTS
        return self._by_user.get(user_id, DEFAULTS)
