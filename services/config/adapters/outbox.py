"""The config service's outbox (API, relay and rotate-secrets alike): the shared one, plus
the newest-last check after every publish (adapters/compaction.py). A write's answer names
its change's offset (X-Config-Version) from its unit (`OutboxUnit.offset`).
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.config.adapters.compaction import NewestLast
from services.config.adapters.tables import config_outbox
from shared.outbox import Outbox


class ConfigOutbox(Outbox):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], broker: KafkaBroker) -> None:
        self.newest_last = NewestLast(config_outbox, sessions)
        super().__init__(config_outbox, sessions, broker, after_publish=self.newest_last)

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
