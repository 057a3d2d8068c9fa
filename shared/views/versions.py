"""Which change of each config entity a view holds, so an older one arriving late is ignored.

Two writes of one entity commit in one order and may reach the topic in the other; each
event carries its entity's version (drawn in the writing transaction, in commit order).
The rule, per entity (compaction key): apply a change only when its version is newer than
the held one. Records from before versions (version 0) apply in topic order while nothing
newer is held, as they always did.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.contracts.config_events import ConfigEvent, config_event_key


class EntityVersions:
    def __init__(self) -> None:
        self._held: dict[str, int] = {}

    def is_newer(self, event: ConfigEvent) -> bool:
        """Whether to apply the change; if so, it becomes the held one."""
        key = config_event_key(event)
        held = self._held.get(key, 0)
        if held and event.version <= held:
            return False
        self._held[key] = event.version
        return True

    def held(self, event: ConfigEvent) -> int:
        return self._held.get(config_event_key(event), 0)


class InOrder:
    """Wraps a view's `apply` so it only sees changes newer than those it holds."""

    def __init__(self, apply: Callable[[ConfigEvent], None]) -> None:
        self._apply = apply
        self.versions = EntityVersions()

    def __call__(self, event: ConfigEvent) -> bool:
        """Apply the change if it is newer; returns whether it was applied."""
        if not self.versions.is_newer(event):
            return False
        self._apply(event)
        return True
