"""GroupCommitter: concurrent submissions share writes; a bad item fails only itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.batching import GroupCommitter


class Recorder:
    def __init__(self, bad: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.bad = bad

    async def write(self, items: Sequence[int]) -> list[int]:
        await asyncio.sleep(0.01)
        if self.bad in items:
            raise ValueError(f"bad item {self.bad}")
        self.batches.append(list(items))
        return [item * 10 for item in items]


async def test_a_lone_item_is_written_at_once() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder.write)
    assert await committer.submit(1) == 10
    assert recorder.batches == [[1]]


async def test_items_arriving_during_a_write_share_the_next_one() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder.write)
    first = asyncio.create_task(committer.submit(0))
    await asyncio.sleep(0.001)  # its write is running now
    results = await asyncio.gather(*(committer.submit(i) for i in range(1, 50)))
    assert await first == 0
    assert results == [i * 10 for i in range(1, 50)]
    assert recorder.batches == [[0], list(range(1, 50))]


async def test_batches_are_capped() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder.write, max_batch=10)
    await asyncio.gather(*(committer.submit(i) for i in range(35)))
    assert max(len(batch) for batch in recorder.batches) == 10
    assert sorted(i for batch in recorder.batches for i in batch) == list(range(35))


async def test_a_bad_item_fails_alone() -> None:
    recorder = Recorder(bad=7)
    committer = GroupCommitter(recorder.write)
    results = await asyncio.gather(
        *(committer.submit(i) for i in range(12)), return_exceptions=True
    )
    assert isinstance(results[7], ValueError)
    assert [r for i, r in enumerate(results) if i != 7] == [i * 10 for i in range(12) if i != 7]
    with pytest.raises(ValueError):
        await committer.submit(7)


async def test_when_every_item_fails_alike_the_rest_fail_at_once() -> None:
    attempts: list[list[int]] = []

    async def unavailable(items: Sequence[int]) -> list[int]:
        attempts.append(list(items))
        await asyncio.sleep(0.01)
        raise ConnectionRefusedError("database down")

    committer = GroupCommitter(unavailable)
    first = asyncio.create_task(committer.submit(0))
    await asyncio.sleep(0.001)
    results = await asyncio.gather(
        *(committer.submit(i) for i in range(1, 20)), return_exceptions=True
    )
    with pytest.raises(ConnectionRefusedError):
        await first
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert attempts == [[0], list(range(1, 20)), [1]]  # not 19 lone tries in turn
