"""Group commit: concurrent callers' writes go to the database together.

A caller submits one item and awaits its own result. When nothing is being written, the
item is written at once (no added latency when traffic is light); items submitted while a
write is running wait for it and are then written together in the next one. Under load a
transaction, its statements and their round trips are paid per batch instead of per item.

If a batch fails, its items are written one by one, so one bad item fails only its own
caller — unless the first of them fails the same way as the batch did: then the fault is
not an item's (the database is down) and the rest fail at once with it, instead of each
waiting its turn for the same answer while new items queue behind them.

The writer is a task the first waiting caller starts, in that caller's context: its spans
belong to that caller's trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self, write: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], max_batch: int = 200
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        return await future

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                _settle(batch, await self._write([item for item, _ in batch]))
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0][1], exc)
                    continue
                for index, entry in enumerate(batch):  # find the bad one: the others succeed
                    try:
                        _settle([entry], await self._write([entry[0]]))
                    except Exception as single:
                        _fail(entry[1], single)
                        if index == 0 and type(single) is type(exc):
                            for _, future in batch[1:]:
                                _fail(future, single)
                            break


def _settle(batch: list[tuple[Item, asyncio.Future[Result]]], results: Sequence[Result]) -> None:
    if len(results) != len(batch):
        raise RuntimeError(f"batch writer returned {len(results)} results for {len(batch)}")
    for (_, future), result in zip(batch, results, strict=True):
        if not future.done():
            future.set_result(result)


def _fail(future: asyncio.Future[Result], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
