"""Does a Kafka broker answer a real metadata request?"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor


async def _probe(bootstrap_servers: str, seconds: float) -> bool:
    from aiokafka.client import AIOKafkaClient  # imported lazily: only needed here

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(seconds * 1000),
        client_id="devstack-probe",
    )
    try:
        await asyncio.wait_for(client.bootstrap(), seconds)
        return bool(client.cluster.brokers())
    except Exception:  # any failure means "not ready yet"
        return False
    finally:
        await client.close()


def answers_metadata(bootstrap_servers: str, timeout: float = 5.0) -> bool:
    """True when the broker answers a metadata request listing at least one broker.

    Runs its own event loop in a worker thread, so it may be called from synchronous code
    whether or not an event loop is already running in the calling thread.
    """
    aiokafka_log = logging.getLogger("aiokafka")
    previous = aiokafka_log.level
    aiokafka_log.setLevel(logging.CRITICAL)  # a refused probe is expected, not an error
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-probe") as pool:
            return pool.submit(asyncio.run, _probe(bootstrap_servers, timeout)).result()
    finally:
        aiokafka_log.setLevel(previous)
