"""Outbound calls to the providers: WhatsApp Cloud (Graph) API and Twilio's Messages API.

Transient answers (429, 5xx, timeouts, connection errors) are retried with exponential
backoff and jitter, honouring Retry-After; anything else fails at once.
"""

from __future__ import annotations

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)


class ProviderRejected(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"provider answered {status_code}: {detail}")
        self.status_code = status_code


class ProviderUnavailable(Exception):
    def __init__(self, status_code: int | None, detail: str, retry_after: float | None = None):
        super().__init__(f"provider unavailable ({status_code or 'no answer'}): {detail}")
        self.status_code = status_code
        self.retry_after = retry_after


_backoff = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, ProviderUnavailable) and error.retry_after is not None:
        return min(error.retry_after, 60.0)
    return float(_backoff(state))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _check(response: httpx.Response) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise ProviderUnavailable(response.status_code, response.text[:200], _retry_after(response))
    if response.status_code >= 400:
        raise ProviderRejected(response.status_code, response.text[:200])


class ProviderClient:
    def __init__(self, http: httpx.AsyncClient, max_attempts: int) -> None:
        self._http = http
        self._max_attempts = max_attempts

    async def _post(self, url: str, **kwargs: object) -> httpx.Response:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(ProviderUnavailable),
            stop=stop_after_attempt(self._max_attempts),
            wait=_wait,
            reraise=True,
        ):
            with attempt:
                try:
                    response = await self._http.post(url, **kwargs)  # type: ignore[arg-type]
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    raise ProviderUnavailable(None, type(exc).__name__) from exc
                _check(response)
                return response
        raise AssertionError("unreachable")

    async def send_whatsapp_text(
        self, base_url: str, version: str, phone_number_id: str, token: str, to: str, body: str
    ) -> str:
        response = await self._post(
            f"{base_url.rstrip('/')}/{version}/{phone_number_id}/messages",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"preview_url": False, "body": body},
            },
        )
        message_id: str = response.json()["messages"][0]["id"]
        return message_id

    async def send_twilio_message(
        self, base_url: str, account_sid: str, auth_token: str, from_: str, to: str, body: str
    ) -> str:
        response = await self._post(
            f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json",
            auth=(account_sid, auth_token),
            data={"From": from_, "To": to, "Body": body},
        )
        sid: str = response.json()["sid"]
        return sid
