"""Twilio's Messages API on 127.0.0.1: `POST /2010-04-01/Accounts/{sid}/Messages.json`.

Form-encoded in, JSON out (`{"sid": "SM...", "status": "queued", ...}`), HTTP Basic auth
with the account SID and auth token; records and fails on demand (see fakes.recording).
Also the typing indicator resource, `POST /v2/Indicators/Typing.json` (messaging.twilio.com:
form `channel=whatsapp&messageId=SM…` → `{"success": true}`).

Status callbacks: a send with a `StatusCallback` to a number scripted with
`POST /_fake/statuses {"to": "whatsapp:+336…", "statuses": ["sent", "undelivered"],
"error_code": 63016}` gets those statuses posted to its callback, in order, form-encoded and
signed with the account's auth token (X-Twilio-Signature) as Twilio does; the gateway's
answers are listed at `GET /_fake/callbacks`. Unscripted numbers get no callback.
Run: python -m fakes.twilio --port 8092   (then TWILIO_API_URL=http://127.0.0.1:8092)
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

from fakes import twilio_media
from fakes.recording import Script, add_control_routes, serve


@dataclass(frozen=True)
class ScriptedStatuses:
    statuses: list[str]
    error_code: int | None


def _auth_token(request: Request) -> str:
    """The password of the send's HTTP Basic auth: what Twilio signs callbacks with."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    return base64.b64decode(encoded).decode().partition(":")[2]


async def _post_statuses(
    app: FastAPI, url: str, token: str, message: dict[str, str], script: ScriptedStatuses
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for status in script.statuses:
            form = {**message, "MessageStatus": status, "SmsStatus": status}
            if status in ("failed", "undelivered") and script.error_code is not None:
                form["ErrorCode"] = str(script.error_code)
            signature = RequestValidator(token).compute_signature(url, form)
            try:
                answer = await client.post(
                    url, data=form, headers={"x-twilio-signature": signature}
                )
                outcome: Any = answer.status_code
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            app.state.callbacks.append(
                {"sid": form["MessageSid"], "status": status, "answer": outcome}
            )


def build_app() -> FastAPI:
    app = FastAPI(title="fake-twilio", openapi_url=None)
    app.state.script = Script()
    app.state.statuses = {}  # To -> ScriptedStatuses
    app.state.callbacks = []
    background: set[asyncio.Task[None]] = set()

    @app.post("/_fake/statuses")
    async def script_statuses(request: Request) -> dict[str, str]:
        body = await request.json()
        code = body.get("error_code")
        app.state.statuses[str(body["to"])] = ScriptedStatuses(
            [str(s) for s in body["statuses"]], int(code) if code is not None else None
        )
        return {"status": "ok"}

    @app.get("/_fake/callbacks")
    async def callbacks() -> list[dict[str, Any]]:
        return list(app.state.callbacks)

    @app.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def send(account_sid: str, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        script: Script = app.state.script
        failure = await script.record(request, {"account_sid": account_sid, **form})
        if failure is not None:
            return failure
        sid = f"SM{uuid.uuid4().hex}"
        scripted = app.state.statuses.get(form.get("To", ""))
        if form.get("StatusCallback") and scripted is not None:
            message = {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": account_sid,
                "From": form.get("From", ""),
                "To": form.get("To", ""),
                "ApiVersion": "2010-04-01",
            }
            task = asyncio.create_task(
                _post_statuses(app, form["StatusCallback"], _auth_token(request), message, scripted)
            )
            background.add(task)
            task.add_done_callback(background.discard)
        return JSONResponse(
            {
                "sid": sid,
                "account_sid": account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
            },
            status_code=201,
        )

    @app.post("/v2/Indicators/Typing.json")
    async def typing(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        script: Script = app.state.script
        failure = await script.record(request, {"indicator": "typing", **form})
        if failure is not None:
            return failure
        if form.get("channel") != "whatsapp" or not form.get("messageId", "").startswith(
            ("SM", "MM")
        ):
            return JSONResponse(
                {"code": 21211, "message": "channel must be whatsapp, messageId a SID"},
                status_code=400,
            )
        return JSONResponse({"success": True})

    add_control_routes(app)
    twilio_media.mount(app)
    return app


def main() -> None:
    serve(build_app, "fake Twilio Messages API", 8092)


if __name__ == "__main__":
    main()
