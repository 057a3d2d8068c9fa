"""WhatsApp media on the fake Graph server, the way Meta documents it.

  GET /{version}/{media_id} with the owner's Bearer token → {url, mime_type, sha256,
      file_size, id, messaging_product}; another token → 401 (code 190), unknown id → 400.
  GET /_media/dl/{ticket} with the same Bearer token → the bytes; the URL expires after
      `ttl_s` (404), and `expire` makes the next N downloads answer 404 as an expired URL.
Controls:
  POST /_fake/media {"media_id", "token", "mime_type", "content_b64", "sha256"? (to lie),
                     "ttl_s"? (300)}
  POST /_fake/media/expire {"times": 1}
  GET  /_fake/media/requests      (method, path kind, authorization; never the bytes)
  POST /_fake/media/reset
Mounted from fakes.graph with one line: `graph_media.mount(app)`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from fakes.recording import add_record_routes


@dataclass
class MediaItem:
    content: bytes
    mime_type: str
    token: str
    sha256: str
    ttl_s: float


@dataclass
class MediaState:
    items: dict[str, MediaItem] = field(default_factory=dict)
    tickets: dict[str, tuple[str, float]] = field(default_factory=dict)  # → (media_id, until)
    expire_next: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": {"message": "invalid token", "code": 190}}, status_code=401)


def mount(app: FastAPI) -> None:
    app.state.media = MediaState()

    @app.post("/_fake/media")
    async def register(request: Request) -> dict[str, str]:
        body = await request.json()
        content = base64.b64decode(body["content_b64"])
        app.state.media.items[str(body["media_id"])] = MediaItem(
            content=content,
            mime_type=str(body.get("mime_type", "application/octet-stream")),
            token=str(body["token"]),
            sha256=str(body.get("sha256") or hashlib.sha256(content).hexdigest()),
            ttl_s=float(body.get("ttl_s", 300)),
        )
        return {"status": "ok"}

    @app.post("/_fake/media/expire")
    async def expire(request: Request) -> dict[str, str]:
        app.state.media.expire_next = int((await request.json()).get("times", 1))
        return {"status": "ok"}

    add_record_routes(app, "/_fake/media", "media", MediaState)

    @app.get("/_media/dl/{ticket}")
    async def download(ticket: str, request: Request) -> Response:
        state: MediaState = app.state.media
        authorization = request.headers.get("authorization")
        state.requests.append({"kind": "download", "authorization": authorization})
        media_id, until = state.tickets.get(ticket, ("", 0.0))
        item = state.items.get(media_id)
        if item is None or time.time() > until:
            return JSONResponse({"error": {"message": "expired"}}, status_code=404)
        if authorization != f"Bearer {item.token}":
            return _unauthorized()
        if state.expire_next > 0:
            state.expire_next -= 1
            return JSONResponse({"error": {"message": "expired"}}, status_code=404)
        return Response(item.content, media_type=item.mime_type)

    @app.get("/{version}/{media_id}")
    async def metadata(version: str, media_id: str, request: Request) -> JSONResponse:
        state: MediaState = app.state.media
        authorization = request.headers.get("authorization")
        state.requests.append(
            {"kind": "metadata", "media_id": media_id, "authorization": authorization}
        )
        item = state.items.get(media_id)
        if item is None:
            return JSONResponse(
                {"error": {"message": "unknown media id", "code": 100}}, status_code=400
            )
        if authorization != f"Bearer {item.token}":
            return _unauthorized()
        ticket = secrets.token_urlsafe(12)
        state.tickets[ticket] = (media_id, time.time() + item.ttl_s)
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{str(request.base_url).rstrip('/')}/_media/dl/{ticket}",
                "mime_type": item.mime_type,
                "sha256": item.sha256,
                "file_size": len(item.content),
                "id": media_id,
            }
        )
