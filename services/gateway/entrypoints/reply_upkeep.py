"""What keeps a batch of sends safe while it runs: the lease heartbeat, and retrying what
must be written once a provider has accepted a reply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from services.gateway.adapters.store import StoreUnavailable
from services.gateway.domain.replies import outage_delay
from shared.logging import get_logger

log = get_logger(__name__)


async def until_done(
    action: Callable[[], Awaitable[None]],
    what: str,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    """Retry `action` (waits ≤ 1 s) until it succeeds: what it writes is already true at
    the provider, so giving up would make the reply look unsent."""
    failures = 0
    while True:
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if failures == 1:
                log.warning(f"could not {what}; retrying", error=str(exc)[:200])
            await sleep(outage_delay(failures))
            continue
        if failures:
            log.info(f"{what}: done after {failures} failed tries")
        return


@contextlib.asynccontextmanager
async def heartbeat(renew: Callable[[], Awaitable[None]], every_s: float) -> AsyncIterator[None]:
    """Call `renew` every `every_s` until the block ends. Stopped by an event, never
    cancelled: a statement cancelled half-way breaks its connection."""
    done = asyncio.Event()

    async def loop() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), every_s)
            if done.is_set():
                return
            try:
                await renew()
            except StoreUnavailable as exc:
                log.warning("reply leases not renewed", error=str(exc))

    task = asyncio.create_task(loop(), name="reply-lease-heartbeat")
    try:
        yield
    finally:
        done.set()
        await task
