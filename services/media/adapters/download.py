"""Media downloads with httpx, the way the providers document them.

WhatsApp: `GET /{version}/{media-id}` with the tenant's Bearer token → `{url, mime_type,
sha256, file_size}`; then `GET url` with the same token. A 401/404 on the URL (it lives
5 minutes) refetches the metadata once. Twilio: `GET {api}{media path}` with the account's
basic credentials. The size cap is enforced while streaming. Neither the token nor the URL
leaves this module: errors carry only a short reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.media.domain.resolve import MediaFailure, TransientFailure


@dataclass(frozen=True)
class Downloaded:
    content: bytes
    mime_type: str | None
    sha256: str | None


def _raise_for(status: int, where: str) -> None:
    if status == 429 or status >= 500:
        raise TransientFailure(f"{where}_unavailable")
    if status in (400, 401, 403, 404, 410):
        raise MediaFailure("expired")
    raise MediaFailure(f"{where}_rejected")


class MediaDownloader:
    def __init__(
        self,
        *,
        graph_url: str,
        graph_version: str,
        twilio_url: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._graph = f"{graph_url.rstrip('/')}/{graph_version}"
        self._twilio = twilio_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _body(self, response: httpx.Response, cap: int) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise MediaFailure("too_large")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise MediaFailure("too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    async def whatsapp(self, media_id: str, token: str, cap: int) -> Downloaded:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            for attempt in (1, 2):
                meta = await self._client.get(f"{self._graph}/{media_id}", headers=headers)
                if meta.status_code != 200:
                    _raise_for(meta.status_code, "metadata")
                info = meta.json()
                size = info.get("file_size")
                if isinstance(size, int) and size > cap:
                    raise MediaFailure("too_large")
                url = info.get("url")
                if not isinstance(url, str):
                    raise MediaFailure("metadata_rejected")
                async with self._client.stream("GET", url, headers=headers) as response:
                    if response.status_code in (401, 404) and attempt == 1:
                        continue  # the 5-minute URL expired: ask for a fresh one, once
                    if response.status_code != 200:
                        _raise_for(response.status_code, "download")
                    content = await self._body(response, cap)
                mime = info.get("mime_type")
                sha = info.get("sha256")
                return Downloaded(
                    content,
                    mime if isinstance(mime, str) else None,
                    sha if isinstance(sha, str) else None,
                )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"download_{type(exc).__name__}") from None
        raise MediaFailure("expired")

    async def twilio(self, path: str, account_sid: str, auth_token: str, cap: int) -> Downloaded:
        try:
            async with self._client.stream(
                "GET",
                f"{self._twilio}{path}",
                auth=(account_sid, auth_token),
                follow_redirects=True,
            ) as response:
                if response.status_code != 200:
                    _raise_for(response.status_code, "download")
                content = await self._body(response, cap)
                mime = response.headers.get("content-type")
        except httpx.HTTPError as exc:
            raise TransientFailure(f"download_{type(exc).__name__}") from None
        return Downloaded(content, mime, None)
