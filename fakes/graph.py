"""A WhatsApp Cloud (Graph) API server on 127.0.0.1: `POST /{version}/{phone_number_id}/messages`.

Answers like Meta ({"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id":
"wamid..."}]}), records path, token and body, and fails on demand (see fakes.recording).
Also answers read receipts / typing indicators (`"status": "read"` → `{"success": true}`)
and templates, and refuses with Meta's error codes on demand:

POST /_fake/graph_error {"code": 130429, "status": 400, "times": 1, "kind": "text"}
  -> the next `times` calls of that kind ("text", "template", "read"; absent: any) answer
     `{"error": {"code": 130429, …}}` with that HTTP status.
Run: python -m fakes.graph --port 8091   (then WHATSAPP_GRAPH_URL=http://127.0.0.1:8091)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes import graph_media
from fakes.recording import Script, add_control_routes, serve

# Titles as Meta writes them; clients must build on the code, never on these.
TITLES = {
    130429: "Rate limit hit",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    190: "Access token has expired",
}


@dataclass
class CodedError:
    code: int
    status: int
    times: int
    kind: str | None


def _kind(body: Any) -> str:
    if isinstance(body, dict) and body.get("status") == "read":
        return "read"
    return str(body.get("type", "text")) if isinstance(body, dict) else "text"


def build_app() -> FastAPI:
    app = FastAPI(title="fake-graph", openapi_url=None)
    app.state.script = Script()
    app.state.coded = []

    def coded_failure(body: Any) -> JSONResponse | None:
        errors: list[CodedError] = app.state.coded
        for error in errors:
            if error.times > 0 and error.kind in (None, _kind(body)):
                error.times -= 1
                message = TITLES.get(error.code, "scripted error")
                return JSONResponse(
                    {
                        "error": {
                            "message": f"({error.code}) {message}",
                            "type": "OAuthException",
                            "code": error.code,
                            "error_data": {"messaging_product": "whatsapp", "details": message},
                            "fbtrace_id": uuid.uuid4().hex[:20],
                        }
                    },
                    status_code=error.status,
                )
        return None

    @app.post("/_fake/graph_error")
    async def graph_error(request: Request) -> dict[str, str]:
        body = await request.json()
        app.state.coded.append(
            CodedError(
                int(body["code"]),
                int(body.get("status", 400)),
                int(body.get("times", 1)),
                body.get("kind"),
            )
        )
        return {"status": "ok"}

    @app.post("/{version}/{phone_number_id}/messages")
    async def send(version: str, phone_number_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        script: Script = app.state.script
        failure = await script.record(request, body)
        if failure is not None:
            return failure
        if not (request.headers.get("authorization") or "").startswith("Bearer "):
            return JSONResponse({"error": {"message": "no token", "code": 190}}, status_code=401)
        coded = coded_failure(body)
        if coded is not None:
            return coded
        if _kind(body) == "read":
            return JSONResponse({"success": True})
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                "messages": [{"id": f"wamid.fake{uuid.uuid4().hex}"}],
            }
        )

    add_control_routes(app)
    graph_media.mount(app)
    return app


def main() -> None:
    serve(build_app, "fake WhatsApp Cloud API", 8091)


if __name__ == "__main__":
    main()
