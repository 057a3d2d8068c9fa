"""The config service's outbox (API, relay and rotate-secrets alike): the shared one, plus
the newest-last check after every publish (adapters/compaction.py), and the Kafka offset
each publish reached, so a write's answer can name its change's offset (X-Config-Version).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.config.adapters.compaction import NewestLast
from services.config.adapters.tables import config_outbox
from shared.outbox import Outbox, StagedEvent

# Offsets are taken by the request right after its unit returns; the rest (the relay's,
# the compaction re-publishes') are never asked for and age out of this many.
_REMEMBERED = 1024


class ConfigOutbox(Outbox):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], broker: KafkaBroker) -> None:
        self.newest_last = NewestLast(config_outbox, sessions)
        super().__init__(config_outbox, sessions, broker, after_publish=self.newest_last)
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

    async def settle(self, timeout_s: float = 10.0) -> None:
        """Wait for the newest-last checks still running (a one-shot command, a stop)."""
        await self.newest_last.drain(timeout_s)

    async def stop_relay(self) -> None:
        await self.settle()
        await super().stop_relay()


def make_config_outbox(
    worker_sessions: async_sessionmaker[AsyncSession], broker: KafkaBroker
) -> ConfigOutbox:
    return ConfigOutbox(worker_sessions, broker)
