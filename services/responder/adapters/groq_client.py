"""The tenant's Groq call through the official SDK, one pooled client per key and base URL.

The SDK never retries here (max_retries=0): its retries sleep inside the call, so a tenant
whose key answers 429 would hold an in-flight slot for the whole wait. A failure is raised
at once as `GroqFailure` (with the provider's retry-after), and the consumer schedules the
next try without holding a slot.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import groq
import httpx
from groq import AsyncGroq
from pydantic import BaseModel, ValidationError

from services.responder.domain.failures import GroqFailure
from shared.contracts.groq_health import RateLimits
from shared.http_client import pooled_http_client


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    rate_limits: RateLimits | None = None


_COMPLETIONS = "/openai/v1/chat/completions"


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Answer(BaseModel):
    """What is read of a chat completion (the rest of it is ignored)."""

    choices: list[_Choice]
    usage: _Usage | None = None


class GroqClient(Protocol):
    async def complete(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        temperature: float,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        """The model's answer, or `GroqFailure`. `response_format` (Groq's structured
        outputs) only for a model that supports it (shared/groq_models.py)."""
        ...


class GroqGateway:
    def __init__(
        self,
        timeout_s: float,
        max_clients: int = 256,
        transport: httpx.AsyncBaseTransport | None = None,  # tests: an in-memory transport
    ) -> None:
        self._timeout_s = timeout_s
        self._max_clients = max_clients
        # One connection pool for every key's client: the SDK only sends through it (each
        # request carries its own URL and key), so a client dropped from the cache below
        # leaves nothing open.
        self._http = pooled_http_client(timeout_s, max_connections=256, transport=transport)
        self._clients: OrderedDict[tuple[str, str], AsyncGroq] = OrderedDict()

    def _client(self, api_key: str, base_url: str) -> AsyncGroq:
        cache_key = (hashlib.sha256(api_key.encode()).hexdigest(), base_url)
        client = self._clients.get(cache_key)
        if client is not None:
            self._clients.move_to_end(cache_key)
            return client
        client = AsyncGroq(
            api_key=api_key,
            base_url=base_url,
            timeout=self._timeout_s,
            max_retries=0,
            http_client=self._http,
        )
        self._clients[cache_key] = client
        if len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)  # nothing to close: the pool is shared
        return client

    async def complete(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        temperature: float,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        client = self._client(api_key, base_url)
        body: dict[str, Any] = {"model": model, "temperature": temperature, "messages": messages}
        if response_format is not None:  # omitted, not null, when plain text is wanted
            body["response_format"] = response_format
        try:
            # The SDK's generic POST: its auth, timeouts and error mapping, without the typed
            # `create`, whose parameter transform and response models cost 3.4 ms more CPU
            # per call (docs/benchmarks.md, session 6); the answer is read from the bytes.
            response = await client.post(_COMPLETIONS, cast_to=httpx.Response, body=body)
        except groq.APITimeoutError as exc:
            raise GroqFailure(None, timed_out=True) from exc
        except groq.APIStatusError as exc:
            raise GroqFailure(
                exc.status_code,
                code=_error_code(exc.body),
                retry_after_s=retry_after(exc.response.headers),
            ) from exc
        except groq.APIError as exc:  # no answer
            raise GroqFailure(None) from exc
        try:
            answer = _Answer.model_validate_json(response.content)
        except ValidationError as exc:  # an answer that is not a completion
            raise GroqFailure(None) from exc
        choice = answer.choices[0] if answer.choices else None
        usage = answer.usage
        return Completion(
            text=(choice.message.content or "").strip() if choice else "",
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            rate_limits=rate_limits(response.headers),
        )

    async def close(self) -> None:
        self._clients.clear()
        await self._http.aclose()


def _error_code(body: object) -> str | None:
    """Groq's `{"error": {"code": "model_decommissioned", ...}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code is not None else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def rate_limits(headers: httpx.Headers) -> RateLimits | None:
    """Groq's x-ratelimit-* headers (requests per day, tokens per minute); None if absent."""
    prefix = "x-ratelimit-"
    if not any(name.startswith(prefix) for name in headers):
        return None
    return RateLimits(
        limit_requests=_int(headers.get(prefix + "limit-requests")),
        remaining_requests=_int(headers.get(prefix + "remaining-requests")),
        reset_requests=(headers.get(prefix + "reset-requests") or "")[:32] or None,
        limit_tokens=_int(headers.get(prefix + "limit-tokens")),
        remaining_tokens=_int(headers.get(prefix + "remaining-tokens")),
        reset_tokens=(headers.get(prefix + "reset-tokens") or "")[:32] or None,
    )


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the provider asks us to wait: `retry-after-ms`, `retry-after` in seconds or
    as an HTTP date; None when absent or unreadable."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(value) if value else None
    if parsed is None:
        return None
    return max(float(email.utils.mktime_tz(parsed)) - time.time(), 0.0)
