"""Groq vision on the fake Groq server: a chat completion whose user content holds an
`image_url` part (a base64 data URL) is answered here, before the plain chat fake sees it.

The answer is derived from the image the request really held — "[vision <model>] an
image <w>x<h> <format>, sha256 <sha[:8]>, centre rgb(r, g, b)" — so a test can check the
decoded bytes; each call is recorded (Authorization header, model, the text parts, and
the image's mime type, size, sha256, format, dimensions and centre colour; never the
bytes). A data URL that is not base64 or not an image gets 400, like the real API.
Controls:
  POST /_fake/vision/fail {"status": 429|500|400, "times": N, "retry_after": "0"}
  GET  /_fake/vision/requests
  POST /_fake/vision/reset
Mounted from fakes.groq with one line: `groq_vision.mount(app)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image, UnidentifiedImageError

from fakes.recording import add_record_routes, script_failure

CHAT_PATH = "/openai/v1/chat/completions"


@dataclass
class VisionState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_status: int | None = None
    fail_times: int = 0
    retry_after: str = "0"


def image_urls(body: Any) -> list[str]:
    """The `image_url` parts of a chat request's messages, in order."""
    urls: list[str] = []
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url")
                urls.append(url if isinstance(url, str) else "")
    return urls


def text_parts(body: dict[str, Any]) -> list[str]:
    return [
        str(part.get("text", ""))
        for message in body.get("messages", [])
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "text"
    ]


def inspect(url: str) -> dict[str, Any] | None:
    """What the data URL holds, or None when it is not a base64 image."""
    head, _, data = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        return None
    try:
        content = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
            centre = image.convert("RGB").getpixel((width // 2, height // 2))
            image_format = image.format
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
        return None
    return {
        "mime_type": head.removeprefix("data:").removesuffix(";base64"),
        "base64_chars": len(data),
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "format": image_format,
        "width": width,
        "height": height,
        "centre_rgb": list(centre) if isinstance(centre, tuple) else [centre],
    }


def description(model: str, seen: dict[str, Any]) -> str:
    r, g, b = ([*seen["centre_rgb"], 0, 0])[:3]
    return (
        f"[vision {model}] an image {seen['width']}x{seen['height']} "
        f"{str(seen['format']).lower()}, sha256 {seen['sha256'][:8]}, centre rgb({r}, {g}, {b})"
    )


def chat_completion(model: str, text: str, tokens: tuple[int, int] = (900, 30)) -> dict[str, Any]:
    """An OpenAI-style chat completion answering `text` with `tokens` (prompt, completion)
    of usage; the fake chat model answers with it too."""
    prompt, completion = tokens
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {**usage, "total_tokens": prompt + completion},
    }


def mount(app: FastAPI) -> None:
    app.state.vision = VisionState()

    @app.middleware("http")
    async def vision(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method != "POST" or request.url.path != CHAT_PATH:
            return await call_next(request)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return await call_next(request)
        urls = image_urls(body)
        if not urls:
            return await call_next(request)  # a plain chat call: the chat fake answers
        state: VisionState = app.state.vision
        seen = [inspect(url) for url in urls]
        model = str(body.get("model", "unknown"))
        state.requests.append(
            {
                "authorization": request.headers.get("authorization"),
                "model": model,
                "texts": text_parts(body),
                "images": seen,
            }
        )
        if state.fail_times > 0 and state.fail_status:
            state.fail_times -= 1
            return JSONResponse(
                {"error": {"message": "scripted failure", "code": str(state.fail_status)}},
                status_code=state.fail_status,
                headers={"retry-after": state.retry_after},
            )
        if any(item is None for item in seen):
            return JSONResponse(
                {"error": {"message": "invalid image data", "type": "invalid_request_error"}},
                status_code=400,
            )
        text = "; ".join(description(model, item) for item in seen if item is not None)
        return JSONResponse(chat_completion(model, text))

    @app.post("/_fake/vision/fail")
    async def fail(request: Request) -> dict[str, str]:
        body = await request.json()
        state: VisionState = app.state.vision
        script_failure(state, body)
        return {"status": "ok"}

    add_record_routes(app, "/_fake/vision", "vision", VisionState)
