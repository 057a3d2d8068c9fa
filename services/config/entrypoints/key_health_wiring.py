"""Starts the key-health consumer and the periodic key check with the config service."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack

from services.config.adapters.outbox import ConfigOutbox
from services.config.entrypoints.key_health import KeyChecker, KeyHealth, key_health_consumer
from services.config.settings import ConfigSettings
from shared.crypto import SecretBox
from shared.logging import get_logger

STOP_S = 10.0
log = get_logger(__name__)


async def start_key_health(
    stack: AsyncExitStack, settings: ConfigSettings, outbox: ConfigOutbox, box: SecretBox
) -> None:
    health = KeyHealth(outbox, box)
    consumer = key_health_consumer(settings.kafka_bootstrap_servers, health)
    await consumer.start()

    async def stop_consumer() -> None:
        try:
            await asyncio.wait_for(consumer.stop(), STOP_S)
        except TimeoutError:
            log.warning("key-health consumer did not stop in time", timeout_s=STOP_S)

    stack.push_async_callback(stop_consumer)
    checker = KeyChecker(
        health,
        settings.groq_base_url,
        settings.groq_check_timeout_s,
        settings.key_check_interval_s,
    )
    task = asyncio.create_task(checker.run(), name="groq-key-check")

    async def stop_checker() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop_checker)
