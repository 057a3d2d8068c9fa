"""The config service's outbox: the shared one, which also remembers the Kafka offset each
publish reached, so a write's answer can name its change's offset (X-Config-Version)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from shared.outbox import Outbox, StagedEvent

# Offsets are taken by the request right after its unit returns; the rest (the relay's,
# the compaction re-publishes') are never asked for and age out of this many.
_REMEMBERED = 1024


class ConfigOutbox(Outbox):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._offsets: OrderedDict[int, int] = OrderedDict()

    async def publish(self, staged: Sequence[StagedEvent]) -> int | None:
        offset = await super().publish(staged)
        if staged and offset is not None:
            self._offsets[staged[-1].id] = offset
            while len(self._offsets) > _REMEMBERED:
                self._offsets.popitem(last=False)
        return offset

    def offset_of(self, published: Sequence[StagedEvent]) -> int | None:
        """The offset the last of these events got, once (None: not published yet)."""
        if not published:
            return None
        return self._offsets.pop(published[-1].id, None)
