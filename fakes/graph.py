"""A WhatsApp Cloud (Graph) API server on 127.0.0.1: `POST /{version}/{phone_number_id}/messages`.

Answers like Meta ({"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id":
"wamid..."}]}), records path, token and body, and fails on demand (see fakes.recording).
Run: python -m fakes.graph --port 8091   (then WHATSAPP_GRAPH_URL=http://127.0.0.1:8091)
"""

from __future__ import annotations

import argparse
import uuid

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes import graph_media
from fakes.recording import Script, add_control_routes


def build_app() -> FastAPI:
    app = FastAPI(title="fake-graph", openapi_url=None)
    app.state.script = Script()

    @app.post("/{version}/{phone_number_id}/messages")
    async def send(version: str, phone_number_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        script: Script = app.state.script
        failure = await script.record(request, body)
        if failure is not None:
            return failure
        if not (request.headers.get("authorization") or "").startswith("Bearer "):
            return JSONResponse({"error": {"message": "no token", "code": 190}}, status_code=401)
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
    parser = argparse.ArgumentParser(description="fake WhatsApp Cloud API")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
