"""Outbound calls to the providers: WhatsApp Cloud (Graph) API and Twilio's Messages API.

One HTTP call per send. A failed call raises `ProviderError` with the domain's verdict;
the reply sender schedules the next try (429, 5xx, no answer) instead of waiting inside
the call, so a slow provider holds no consumer slot while it waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import httpx

from services.gateway.domain.replies import SendFailure, Verdict, classify, parse_retry_after

UNKNOWN_ID = "unknown"


class ProviderError(Exception):
    def __init__(self, failure: SendFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


class Provider(Protocol):
    """What the reply sender needs of the providers; a test passes an in-memory one."""

    async def send_whatsapp_text(
        self, base_url: str, version: str, phone_number_id: str, token: str, to: str, body: str
    ) -> str: ...

    async def send_twilio_message(
        self, base_url: str, account_sid: str, auth_token: str, from_: str, to: str, body: str
    ) -> str: ...


def _checked(response: httpx.Response) -> httpx.Response:
    verdict = classify(response.status_code)
    if verdict is Verdict.ACCEPTED:
        return response
    if verdict is Verdict.RETRY:
        raise ProviderError(
            SendFailure(
                "provider_unavailable",
                response.status_code,
                f"provider unavailable ({response.status_code}): {response.text[:200]}",
                parse_retry_after(response.headers.get("retry-after")),
            )
        )
    raise ProviderError(
        SendFailure(
            "provider_rejected",
            response.status_code,
            f"provider answered {response.status_code}: {response.text[:200]}",
        )
    )


def _provider_id(response: httpx.Response, read: Callable[[Any], Any]) -> str:
    """The provider's id for the accepted message. An accepted send whose answer cannot be
    read is still sent: raising here would make it look unsent and send it again."""
    try:
        return str(read(response.json()))
    except (ValueError, KeyError, IndexError, TypeError):
        return UNKNOWN_ID


class ProviderClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _post(self, url: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self._http.post(url, **kwargs)  # type: ignore[arg-type]
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            failure = SendFailure(
                "provider_unavailable",
                None,
                f"provider unavailable (no answer): {type(exc).__name__}",
            )
            raise ProviderError(failure) from exc
        return _checked(response)

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
        return _provider_id(response, lambda body: body["messages"][0]["id"])

    async def send_twilio_message(
        self, base_url: str, account_sid: str, auth_token: str, from_: str, to: str, body: str
    ) -> str:
        response = await self._post(
            f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json",
            auth=(account_sid, auth_token),
            data={"From": from_, "To": to, "Body": body},
        )
        return _provider_id(response, lambda body: body["sid"])
