"""Twilio's Messages API on 127.0.0.1: `POST /2010-04-01/Accounts/{sid}/Messages.json`.

Form-encoded in, JSON out (`{"sid": "SM...", "status": "queued", ...}`), HTTP Basic auth
with the account SID and auth token; records and fails on demand (see fakes.recording).
Also the typing indicator resource, `POST /v2/Indicators/Typing.json` (messaging.twilio.com:
form `channel=whatsapp&messageId=SM…` → `{"success": true}`).
Run: python -m fakes.twilio --port 8092   (then TWILIO_API_URL=http://127.0.0.1:8092)
"""

from __future__ import annotations

import argparse
import uuid
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes import twilio_media
from fakes.recording import Script, add_control_routes


def build_app() -> FastAPI:
    app = FastAPI(title="fake-twilio", openapi_url=None)
    app.state.script = Script()

    @app.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def send(account_sid: str, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        script: Script = app.state.script
        failure = await script.record(request, {"account_sid": account_sid, **form})
        if failure is not None:
            return failure
        return JSONResponse(
            {
                "sid": f"SM{uuid.uuid4().hex}",
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
    parser = argparse.ArgumentParser(description="fake Twilio Messages API")
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args()
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
