"""Outcomes of records finishing at the same moment go to Kafka in one produce round."""

from __future__ import annotations

from collections.abc import Sequence

from shared.batching import GroupCommitter
from shared.messaging import Outgoing, Publish


def grouped(publish: Publish, max_batch: int = 200) -> Publish:
    async def write(batches: Sequence[Sequence[Outgoing]]) -> list[None]:
        await publish([out for batch in batches for out in batch])
        return [None] * len(batches)

    committer: GroupCommitter[Sequence[Outgoing], None] = GroupCommitter(write, max_batch)

    async def publish_grouped(events: Sequence[Outgoing]) -> None:
        await committer.submit(events)

    return publish_grouped
