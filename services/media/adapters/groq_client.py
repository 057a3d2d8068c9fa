"""One groq SDK client for every tenant's key.

Building an `AsyncGroq` costs ~45 ms of CPU (its HTTP client loads the TLS trust store),
more than the rest of a voice note's work: one base client holds the connection pool and
each call takes a copy bound to the tenant's key (`with_options`, microseconds). The SDK
never retries here (max_retries=0): the consumer's RetryLater does, bounded.
"""

from __future__ import annotations

import httpx
from groq import AsyncGroq


class GroqClients:
    def __init__(
        self, base_url: str, timeout_s: float, http_client: httpx.AsyncClient | None = None
    ) -> None:
        # The placeholder key is never sent: every call goes through `for_key`.
        self._base = AsyncGroq(
            api_key="unused",
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    def for_key(self, api_key: str) -> AsyncGroq:
        return self._base.with_options(api_key=api_key)

    async def aclose(self) -> None:
        await self._base.close()
