"""A service settles its heap once its lifespan has started (shared/heap.py), not before:
what the components build while starting is frozen with the rest."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.service import _settling_heap


async def test_the_heap_is_frozen_after_the_components_start_and_young_collections_are_rarer() -> (
    None
):
    built: list[object] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built.append(gc.get_freeze_count())  # while starting: nothing frozen yet
        built.append(object())
        yield

    before = gc.get_threshold()
    app = _settling_heap(FastAPI(lifespan=lifespan), young_threshold=12_345)
    try:
        async with app.router.lifespan_context(app):
            assert built[0] == 0
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold()[0] == 12_345
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
