"""Twilio media on the fake Twilio server, the way Twilio serves a message's MediaUrl.

  GET /2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media/{media_sid} with HTTP Basic
      auth (account SID, auth token) → 307 to a short-lived CDN URL (as Twilio redirects to
      its storage), which serves the bytes without credentials; wrong or no credentials →
      401, an unknown item → 404.
Controls:
  POST /_fake/twilio-media {"path", "account_sid", "auth_token", "content_type",
                            "content_b64"}
  GET  /_fake/twilio-media/requests   (kind, path, whether the credentials were right;
                                      never the credentials or the bytes)
  POST /_fake/twilio-media/reset
Mounted from fakes.twilio with one line: `twilio_media.mount(app)`.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from fakes.recording import add_record_routes

CDN_TTL_S = 60.0


@dataclass
class TwilioItem:
    content: bytes
    content_type: str
    authorization: str  # the Basic header the owner's credentials make


@dataclass
class TwilioMediaState:
    items: dict[str, TwilioItem] = field(default_factory=dict)  # path → item
    tickets: dict[str, tuple[str, float]] = field(default_factory=dict)  # → (path, until)
    requests: list[dict[str, Any]] = field(default_factory=list)


def basic(account_sid: str, auth_token: str) -> str:
    return "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()


def mount(app: FastAPI) -> None:
    app.state.twilio_media = TwilioMediaState()

    @app.post("/_fake/twilio-media")
    async def register(request: Request) -> dict[str, str]:
        body = await request.json()
        app.state.twilio_media.items[str(body["path"])] = TwilioItem(
            content=base64.b64decode(body["content_b64"]),
            content_type=str(body.get("content_type", "application/octet-stream")),
            authorization=basic(str(body["account_sid"]), str(body["auth_token"])),
        )
        return {"status": "ok"}

    add_record_routes(app, "/_fake/twilio-media", "twilio_media", TwilioMediaState)

    @app.get("/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}")
    async def media(
        account_sid: str, message_sid: str, media_sid: str, request: Request
    ) -> Response:
        state: TwilioMediaState = app.state.twilio_media
        item = state.items.get(request.url.path)
        authorized = item is not None and request.headers.get("authorization") == item.authorization
        state.requests.append({"kind": "media", "path": request.url.path, "auth_ok": authorized})
        if item is None:
            return JSONResponse({"code": 20404, "message": "not found"}, status_code=404)
        if not authorized:
            return JSONResponse({"code": 20003, "message": "authenticate"}, status_code=401)
        ticket = secrets.token_urlsafe(12)
        state.tickets[ticket] = (request.url.path, time.time() + CDN_TTL_S)
        return RedirectResponse(f"/_twilio_cdn/{ticket}", status_code=307)

    @app.get("/_twilio_cdn/{ticket}")
    async def cdn(ticket: str) -> Response:
        state: TwilioMediaState = app.state.twilio_media
        path, until = state.tickets.get(ticket, ("", 0.0))
        item = state.items.get(path)
        state.requests.append({"kind": "cdn", "path": path, "auth_ok": None})
        if item is None or time.time() > until:
            return JSONResponse({"message": "expired"}, status_code=403)
        return Response(item.content, media_type=item.content_type)
