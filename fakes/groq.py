"""A Groq-compatible server (OpenAI chat-completions shape) on 127.0.0.1.

It answers `POST /openai/v1/chat/completions` with a deterministic reply, records each
request (path, Authorization header, JSON body) and can be told to fail:
  POST /_fake/fail {"status": 429|500|401|..., "times": N, "retry_after": 0}
  POST /_fake/delay {"seconds": 0.3, "slow_every": 50, "slow_seconds": 3}
  POST /_fake/keys {"key": "gsk_...", "status": 429, "for_seconds": 15, "retry_after": 1,
                    "delay_s": 0.3, "code": "...", "models": ["openai/gpt-oss-20b"]}
       one key only: fail with `status` (and retry-after, and error `code`) for the next
       `for_seconds` (chat and /models alike), answer after `delay_s` (a slow model or a
       20 s response), and list `models` on /models (absent: the server's list); later
       calls replace it
  POST /_fake/models {"models": [...], "decommissioned": [...]}
       the models /openai/v1/models lists, and those a chat call refuses with 400
       `model_decommissioned` (as Groq does for a retired model)
  POST /_fake/action {"action": "handoff", "times": 1, "key": "gsk_..."}
       the `action` of the next structured answers for that key (no key: for any key;
       else "none"): a chat call with
       `response_format` json_schema/json_object is answered with
       `{"reply": <the usual text>, "action": ...}`; json_schema on a model that Groq does
       not list for Structured Outputs (shared/groq_models.py) gets 400, as Groq answers
  GET  /openai/v1/models          -> Groq's model list for the caller's key
  GET  /_fake/model-requests      -> the recorded /models calls (not in /_fake/requests)
Every answer carries Groq's x-ratelimit-* headers (requests per day counting down per key).
  GET  /_fake/requests            -> the recorded requests
  POST /_fake/reset
Run: python -m fakes.groq --port 8090   (then set GROQ_BASE_URL=http://127.0.0.1:8090)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes import groq_audio, groq_vision
from fakes.recording import add_record_routes, serve
from shared.groq_models import DEFAULT_CHAT_MODEL, STRUCTURED_OUTPUT_MODELS

DEFAULT_MODELS = (
    DEFAULT_CHAT_MODEL,
    "openai/gpt-oss-20b",
    "qwen/qwen3-32b",
    "whisper-large-v3-turbo",
    "meta-llama/llama-4-scout-17b-16e-instruct",
)
# Retired by Groq (the seed's default): a chat call naming it gets 400 model_decommissioned.
# Tests retire more with /_fake/models (the suite still names later-retired models).
DECOMMISSIONED = ("llama3-70b-8192",)
REQUESTS_PER_DAY = 14400
TOKENS_PER_MINUTE = 6000


@dataclass
class FakeGroqState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_status: int | None = None
    fail_times: int = 0
    retry_after: str = "0"
    delay_s: float = 0.0
    slow_every: int = 0
    slow_s: float = 0.0
    counter: itertools.count[int] = field(default_factory=itertools.count)
    keys: dict[str, KeyScript] = field(default_factory=dict)
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    decommissioned: set[str] = field(default_factory=lambda: set(DECOMMISSIONED))
    answered: dict[str, int] = field(default_factory=dict)  # per key, for the headers
    model_requests: list[dict[str, Any]] = field(default_factory=list)
    # the next structured answers' actions, per key ("" for any key)
    actions: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class KeyScript:
    """What one API key gets: failures until `fail_until` (epoch seconds), then answers
    after `delay_s`."""

    status: int = 429
    fail_until: float = 0.0
    retry_after: str = "0"
    delay_s: float = 0.0
    code: str | None = None
    models: list[str] | None = None


def reply_text(messages: list[dict[str, Any]], model: str) -> str:
    """Deterministic, so tests can assert on it: echoes the last user message."""
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"[{model}] reply to: {last}"


def _failure(status: int, retry_after: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": "fake failure", "type": "fake", "code": code or str(status)}},
        status_code=status,
        headers={"retry-after": retry_after},
    )


def rate_limit_headers(answered: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(REQUESTS_PER_DAY),
        "x-ratelimit-remaining-requests": str(max(REQUESTS_PER_DAY - answered, 0)),
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-limit-tokens": str(TOKENS_PER_MINUTE),
        "x-ratelimit-remaining-tokens": str(TOKENS_PER_MINUTE - 19),
        "x-ratelimit-reset-tokens": "7.66s",
    }


def _bearer(request: Request) -> str:
    return (request.headers.get("authorization") or "").removeprefix("Bearer ")


def build_app(state: FakeGroqState | None = None) -> FastAPI:
    app = FastAPI(title="fake-groq", openapi_url=None)
    app.state.fake = state or FakeGroqState()

    @app.post("/openai/v1/chat/completions")
    async def completions(request: Request) -> JSONResponse:
        fake: FakeGroqState = app.state.fake
        body = await request.json()
        number = next(fake.counter)
        fake.requests.append(
            {
                "path": request.url.path,
                "authorization": request.headers.get("authorization"),
                "traceparent": request.headers.get("traceparent"),
                "body": body,
                "at": time.time(),
            }
        )
        key = _bearer(request)
        script = fake.keys.get(key)
        if script is not None and time.time() < script.fail_until:
            fake.requests[-1]["status"] = script.status
            return _failure(script.status, script.retry_after, script.code)
        if body.get("model") in fake.decommissioned:
            fake.requests[-1]["status"] = 400
            return JSONResponse(
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` has been decommissioned",
                        "type": "invalid_request_error",
                        "code": "model_decommissioned",
                    }
                },
                status_code=400,
            )
        if fake.fail_times > 0 and fake.fail_status:
            fake.fail_times -= 1
            fake.requests[-1]["status"] = fake.fail_status
            return _failure(fake.fail_status, fake.retry_after)
        wanted = (body.get("response_format") or {}).get("type")
        if wanted == "json_schema" and body.get("model") not in STRUCTURED_OUTPUT_MODELS:
            fake.requests[-1]["status"] = 400
            return JSONResponse(
                {
                    "error": {
                        "message": "This model does not support response format `json_schema`",
                        "type": "invalid_request_error",
                    }
                },
                status_code=400,
            )
        delay = script.delay_s if script is not None and script.delay_s else fake.delay_s
        if fake.slow_every and number % fake.slow_every == fake.slow_every - 1:
            delay = fake.slow_s
        if delay:
            await asyncio.sleep(delay)
        model = body.get("model", "unknown")
        text = reply_text(body.get("messages", []), model)
        if wanted in ("json_schema", "json_object"):
            queued = fake.actions.get(key) or fake.actions.get("") or []
            action = queued.pop(0) if queued else "none"
            text = json.dumps({"reply": text, "action": action})
        fake.answered[key] = fake.answered.get(key, 0) + 1
        fake.requests[-1]["status"] = 200
        return JSONResponse(
            headers=rate_limit_headers(fake.answered[key]),
            content=groq_vision.chat_completion(model, text, tokens=(12, 7)),
        )

    @app.get("/openai/v1/models")
    async def models(request: Request) -> JSONResponse:
        fake: FakeGroqState = app.state.fake
        key = _bearer(request)
        # kept apart from the chat calls, which tests read as completions (body.messages)
        fake.model_requests.append(
            {"authorization": request.headers.get("authorization"), "at": time.time()}
        )
        script = fake.keys.get(key)
        if script is not None and time.time() < script.fail_until:
            return _failure(script.status, script.retry_after, script.code)
        names = script.models if script is not None and script.models is not None else fake.models
        data = [
            {"id": name, "object": "model", "owned_by": "fake", "active": True}
            for name in names
            if name not in fake.decommissioned
        ]
        return JSONResponse({"object": "list", "data": data})

    @app.post("/_fake/models")
    async def set_models(request: Request) -> dict[str, str]:
        body = await request.json()
        if "models" in body:
            app.state.fake.models = [str(m) for m in body["models"]]
        if "decommissioned" in body:
            app.state.fake.decommissioned = {str(m) for m in body["decommissioned"]}
        return {"status": "ok"}

    @app.post("/_fake/action")
    async def set_action(request: Request) -> dict[str, str]:
        body = await request.json()
        actions = [str(body["action"])] * int(body.get("times", 1))
        app.state.fake.actions[str(body.get("key", ""))] = actions
        return {"status": "ok"}

    @app.post("/_fake/fail")
    async def fail(request: Request) -> dict[str, str]:
        body = await request.json()
        app.state.fake.fail_status = int(body["status"])
        app.state.fake.fail_times = int(body.get("times", 1))
        app.state.fake.retry_after = str(body.get("retry_after", 0))
        return {"status": "ok"}

    @app.post("/_fake/delay")
    async def delay(request: Request) -> dict[str, str]:
        body = await request.json()
        app.state.fake.delay_s = float(body.get("seconds", 0))
        app.state.fake.slow_every = int(body.get("slow_every", 0))
        app.state.fake.slow_s = float(body.get("slow_seconds", 0))
        return {"status": "ok"}

    @app.post("/_fake/keys")
    async def key_script(request: Request) -> dict[str, str]:
        body = await request.json()
        app.state.fake.keys[str(body["key"])] = KeyScript(
            status=int(body.get("status", 429)),
            fail_until=time.time() + float(body.get("for_seconds", 0)),
            retry_after=str(body.get("retry_after", 0)),
            delay_s=float(body.get("delay_s", 0)),
            code=body.get("code"),
            models=body.get("models"),
        )
        return {"status": "ok"}

    @app.get("/_fake/model-requests")
    async def model_requests() -> list[dict[str, Any]]:
        return list(app.state.fake.model_requests)

    add_record_routes(app, "/_fake", "fake", FakeGroqState)

    groq_audio.mount(app)
    groq_vision.mount(app)
    return app


def main() -> None:
    serve(build_app, __doc__.splitlines()[0] if __doc__ else None, 8090)


if __name__ == "__main__":
    main()
