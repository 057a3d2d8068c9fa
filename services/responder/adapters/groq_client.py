"""The tenant's Groq call through the official SDK, one pooled client per key and base URL."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import groq
from groq import AsyncGroq


class ProviderAuthError(Exception):
    """Groq refused the key (401/403): retrying cannot help, the tenant must fix its config."""


class ProviderRejected(Exception):
    """Groq refused the request itself (400/404/422, e.g. a retired model): a config problem."""


class ProviderUnavailable(Exception):
    """Groq stayed unavailable (429/5xx/timeouts) after the SDK's retries."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None


class GroqGateway:
    def __init__(self, timeout_s: float, max_retries: int, max_clients: int = 256) -> None:
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._max_clients = max_clients
        self._clients: OrderedDict[tuple[str, str], AsyncGroq] = OrderedDict()

    def _client(self, api_key: str, base_url: str) -> AsyncGroq:
        cache_key = (hashlib.sha256(api_key.encode()).hexdigest(), base_url)
        client = self._clients.get(cache_key)
        if client is None:
            client = AsyncGroq(
                api_key=api_key,
                base_url=base_url,
                timeout=self._timeout_s,
                max_retries=self._max_retries,
            )
            self._clients[cache_key] = client
            if len(self._clients) > self._max_clients:
                _, evicted = self._clients.popitem(last=False)
                # Closing would break a call still using it; its pool is freed with it.
                del evicted
        else:
            self._clients.move_to_end(cache_key)
        return client

    async def complete(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        temperature: float,
        messages: list[dict[str, Any]],
    ) -> Completion:
        client = self._client(api_key, base_url)
        try:
            result = await client.chat.completions.create(
                model=model,
                temperature=temperature,
                messages=messages,  # type: ignore[arg-type]
            )
        except (groq.AuthenticationError, groq.PermissionDeniedError) as exc:
            raise ProviderAuthError(f"Groq refused the key ({exc.status_code})") from exc
        except (groq.RateLimitError, groq.InternalServerError, groq.APIConnectionError) as exc:
            raise ProviderUnavailable(type(exc).__name__) from exc
        except (groq.BadRequestError, groq.NotFoundError, groq.UnprocessableEntityError) as exc:
            raise ProviderRejected(f"Groq refused the request ({exc.status_code})") from exc
        except groq.APIStatusError as exc:
            raise ProviderUnavailable(f"Groq answered {exc.status_code}") from exc
        choice = result.choices[0] if result.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = result.usage
        return Completion(
            text=text.strip(),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
