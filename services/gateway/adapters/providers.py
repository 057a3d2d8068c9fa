"""Outbound calls to the providers: WhatsApp Cloud (Graph) API and Twilio's Messages API.

One HTTP call per send. A failed call raises `ProviderError` with the domain's verdict:
the provider's error code when it gave one (`domain.delivery_errors`: 130429 back off,
131056 pace, 190 token expired, 131047 window closed…), else the HTTP status. The reply
sender schedules the next try instead of waiting inside the call, so a slow provider holds
no consumer slot while it waits.

The read receipt / typing indicator calls are cosmetic: short timeout, and their failure
is the caller's to log, never to retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpx

from services.gateway.domain.delivery_errors import classify_code, error_code
from services.gateway.domain.replies import SendFailure, Verdict, classify, parse_retry_after

UNKNOWN_ID = "unknown"
INDICATOR_TIMEOUT_S = 5.0


class ProviderError(Exception):
    def __init__(self, failure: SendFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


class Provider(Protocol):
    """What the reply sender needs of the providers; a test passes an in-memory one."""

    async def send_whatsapp_text(
        self, base_url: str, version: str, phone_number_id: str, token: str, to: str, body: str
    ) -> str: ...

    async def send_whatsapp_template(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        to: str,
        name: str,
        language: str,
    ) -> str: ...

    async def send_twilio_message(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_: str,
        to: str,
        body: str,
        status_callback: str | None = None,
    ) -> str: ...


class Indicators(Protocol):
    """Read receipts and typing indicators; raise `ProviderError` when refused."""

    async def whatsapp_read(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        message_id: str,
        typing: bool,
    ) -> None: ...

    async def twilio_typing(
        self, base_url: str, account_sid: str, auth_token: str, message_sid: str
    ) -> None: ...


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def failure_of(response: httpx.Response) -> SendFailure:
    """What a refused (or failed) provider answer means for the reply."""
    status, code = response.status_code, error_code(_body(response))
    known = classify_code(code)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    coded = f" (code {code})" if code is not None else ""
    detail = f"provider answered {status}{coded}: {response.text[:200]}"
    if known is not None:
        return SendFailure(known.reason, status, detail, retry_after, code)
    if classify(status) is Verdict.RETRY:
        return SendFailure(
            "provider_unavailable",
            status,
            f"provider unavailable ({status}){coded}: {response.text[:200]}",
            retry_after,
            code,
        )
    return SendFailure("provider_rejected", status, detail, None, code)


def _checked(response: httpx.Response) -> httpx.Response:
    if classify(response.status_code) is Verdict.ACCEPTED:
        return response
    raise ProviderError(failure_of(response))


def _provider_id(response: httpx.Response, read: Callable[[Any], Any]) -> str:
    """The provider's id for the accepted message. An accepted send whose answer cannot be
    read is still sent: raising here would make it look unsent and send it again."""
    try:
        return str(read(response.json()))
    except (ValueError, KeyError, IndexError, TypeError):
        return UNKNOWN_ID


def _graph_url(base_url: str, version: str, phone_number_id: str) -> str:
    return f"{base_url.rstrip('/')}/{version}/{phone_number_id}/messages"


def _graph_message(
    base_url: str, version: str, phone_number_id: str, token: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The POST (url, headers, json) that sends one message from a WhatsApp number."""
    return {
        "url": _graph_url(base_url, version, phone_number_id),
        "headers": {"Authorization": f"Bearer {token}"},
        "json": {"messaging_product": "whatsapp", "recipient_type": "individual", **body},
    }


def _graph_message_id(answer: Any) -> Any:
    return answer["messages"][0]["id"]


@contextmanager
def _no_answer_is_unavailable() -> Iterator[None]:
    """A provider that does not answer (a timeout, a refused or dropped connection) is
    unavailable: a ProviderError the sender retries."""
    try:
        yield
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        failure = SendFailure(
            "provider_unavailable", None, f"provider unavailable (no answer): {type(exc).__name__}"
        )
        raise ProviderError(failure) from exc


class ProviderClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def send_whatsapp_text(
        self, base_url: str, version: str, phone_number_id: str, token: str, to: str, body: str
    ) -> str:
        text = {"to": to, "type": "text", "text": {"preview_url": False, "body": body}}
        request = _graph_message(base_url, version, phone_number_id, token, text)
        with _no_answer_is_unavailable():
            response = await self._http.post(**request)
        return _provider_id(_checked(response), _graph_message_id)

    async def send_whatsapp_template(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        to: str,
        name: str,
        language: str,
    ) -> str:
        template = {"name": name, "language": {"code": language}}
        body = {"to": to, "type": "template", "template": template}
        with _no_answer_is_unavailable():
            response = await self._http.post(
                **_graph_message(base_url, version, phone_number_id, token, body)
            )
        return _provider_id(_checked(response), _graph_message_id)

    async def send_twilio_message(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_: str,
        to: str,
        body: str,
        status_callback: str | None = None,
    ) -> str:
        """With `status_callback`, Twilio posts the message's statuses there (sent,
        delivered, read, undelivered/failed with an ErrorCode): /webhooks/twilio/status."""
        data = {"From": from_, "To": to, "Body": body}
        if status_callback:
            data["StatusCallback"] = status_callback
        with _no_answer_is_unavailable():
            response = await self._http.post(
                f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json",
                auth=(account_sid, auth_token),
                data=data,
            )
        return _provider_id(_checked(response), lambda answer: answer["sid"])

    async def whatsapp_read(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        message_id: str,
        typing: bool,
    ) -> None:
        """Marks the message (and those before it) read; with `typing`, also shows the
        typing indicator until the reply or for 25 s, in the same call."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        with _no_answer_is_unavailable():
            response = await self._http.post(
                _graph_url(base_url, version, phone_number_id),
                headers={"Authorization": f"Bearer {token}"},
                json=body,
                timeout=INDICATOR_TIMEOUT_S,
            )
        _checked(response)

    async def twilio_typing(
        self, base_url: str, account_sid: str, auth_token: str, message_sid: str
    ) -> None:
        """Twilio's typing indicator resource (public beta, WhatsApp only): it marks the
        message read too."""
        with _no_answer_is_unavailable():
            response = await self._http.post(
                f"{base_url.rstrip('/')}/v2/Indicators/Typing.json",
                auth=(account_sid, auth_token),
                data={"channel": "whatsapp", "messageId": message_sid},
                timeout=INDICATOR_TIMEOUT_S,
            )
        _checked(response)
