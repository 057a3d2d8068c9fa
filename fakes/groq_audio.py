"""Groq speech-to-text on the fake Groq server: `POST /openai/v1/audio/transcriptions`.

Multipart like the real API (`file`, `model`, optional `language`, `response_format`). The
transcript is derived from what was sent — "transcript of <sha256[:8]> <filename>" — so a
test can check the bytes and the file name; `verbose_json` adds `language` and `duration`.
Each call is recorded (Authorization header, model, language, filename, sha256, size; never
the bytes). Controls:
  POST /_fake/audio/fail {"status": 429|500|413|400, "times": N, "retry_after": "0"}
  POST /_fake/audio/script {"language": "fr", "duration": 3.5}
  GET  /_fake/audio/requests
  POST /_fake/audio/reset
Mounted from fakes.groq with one line: `groq_audio.mount(app)`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes.recording import add_record_routes, script_failure


@dataclass
class AudioState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_status: int | None = None
    fail_times: int = 0
    retry_after: str = "0"
    language: str = "fr"
    duration: float = 3.5


def transcript_of(content: bytes, filename: str) -> str:
    return f"transcript of {hashlib.sha256(content).hexdigest()[:8]} {filename}"


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name → (filename, bytes) of a multipart/form-data body (no python-multipart here)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str):
            parts[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return parts


def mount(app: FastAPI) -> None:
    app.state.audio = AudioState()

    @app.post("/openai/v1/audio/transcriptions")
    async def transcribe(request: Request) -> JSONResponse:
        state: AudioState = app.state.audio
        parts = parse_multipart(request.headers.get("content-type", ""), await request.body())
        filename, content = parts.get("file", (None, b""))

        def field_(name: str) -> str | None:
            value = parts.get(name)
            return value[1].decode() if value is not None else None

        state.requests.append(
            {
                "authorization": request.headers.get("authorization"),
                "model": field_("model"),
                "language": field_("language"),
                "response_format": field_("response_format"),
                "filename": filename,
                "sha256": hashlib.sha256(content).hexdigest(),
                "size": len(content),
            }
        )
        if state.fail_times > 0 and state.fail_status:
            state.fail_times -= 1
            return JSONResponse(
                {"error": {"message": "scripted failure", "code": str(state.fail_status)}},
                status_code=state.fail_status,
                headers={"retry-after": state.retry_after},
            )
        if not content or not filename:
            return JSONResponse({"error": {"message": "file is required"}}, status_code=400)
        text = transcript_of(content, filename)
        if field_("response_format") == "verbose_json":
            return JSONResponse(
                {
                    "task": "transcribe",
                    "text": text,
                    "language": state.language,
                    "duration": state.duration,
                    "segments": [],
                }
            )
        return JSONResponse({"text": text})

    @app.post("/_fake/audio/fail")
    async def fail(request: Request) -> dict[str, str]:
        body = await request.json()
        state: AudioState = app.state.audio
        script_failure(state, body)
        return {"status": "ok"}

    @app.post("/_fake/audio/script")
    async def script(request: Request) -> dict[str, str]:
        body = await request.json()
        state: AudioState = app.state.audio
        state.language = str(body.get("language", state.language))
        state.duration = float(body.get("duration", state.duration))
        return {"status": "ok"}

    add_record_routes(app, "/_fake/audio", "audio", AudioState)
