"""The Groq adapter against an in-memory HTTP transport: the SDK makes exactly one request
(no retries sleeping inside a slot), and each answer becomes the right GroqFailure."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.responder.adapters.groq_client import GroqGateway, retry_after
from services.responder.domain.failures import GroqFailure, classify
from shared.contracts.messages import FailureReason

MESSAGES = [{"role": "user", "content": "hi"}]


def _gateway(handler: Any) -> tuple[GroqGateway, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result: httpx.Response = handler(request)
        return result

    return GroqGateway(5.0, transport=httpx.MockTransport(respond)), seen


async def _fail(handler: Any) -> tuple[GroqFailure, int]:
    gateway, seen = _gateway(handler)
    with pytest.raises(GroqFailure) as failure:
        await gateway.complete(
            api_key="gsk_x",
            base_url="http://groq.test",
            model="m",
            temperature=0.1,
            messages=MESSAGES,
        )
    await gateway.close()
    return failure.value, len(seen)


def _error(status: int, code: str | None = None, **headers: str) -> Any:
    body = {"error": {"message": "no", "type": "invalid_request_error", "code": code}}
    return lambda _: httpx.Response(status, content=json.dumps(body), headers=headers)


async def test_a_completion_is_read_with_its_usage() -> None:
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " hello "},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    gateway, seen = _gateway(lambda _: httpx.Response(200, json=body))
    completion = await gateway.complete(
        api_key="gsk_x", base_url="http://groq.test", model="m", temperature=0.1, messages=MESSAGES
    )
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        "hello",
        3,
        2,
    )
    assert seen[0].headers["authorization"] == "Bearer gsk_x"
    await gateway.close()


async def test_429_is_raised_at_once_with_its_retry_after() -> None:
    failure, requests = await _fail(_error(429, "rate_limit_exceeded", **{"retry-after": "7"}))
    assert (failure.status, failure.retry_after_s, requests) == (429, 7.0, 1)
    mapped = classify(failure)
    assert (mapped.reason, mapped.retryable, mapped.after_s) == (
        FailureReason.PROVIDER_UNAVAILABLE,
        True,
        7.0,
    )


async def test_5xx_is_raised_at_once_and_retryable() -> None:
    failure, requests = await _fail(_error(503))
    assert (failure.status, requests) == (503, 1)
    assert classify(failure).retryable is True


async def test_decommissioned_model_is_told_apart_from_other_400s() -> None:
    failure, _ = await _fail(_error(400, "model_decommissioned"))
    assert failure.code == "model_decommissioned"
    assert classify(failure).detail == "the model is decommissioned"
    other, _ = await _fail(_error(400, "invalid_request"))
    assert (
        classify(other).reason == FailureReason.PROVIDER_REJECTED
        and classify(other).retryable is False
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, FailureReason.PROVIDER_AUTH),
        (403, FailureReason.PROVIDER_AUTH),
        (404, FailureReason.PROVIDER_REJECTED),
    ],
)
async def test_refusals_map_to_config_problems(status: int, reason: FailureReason) -> None:
    failure, requests = await _fail(_error(status))
    assert (classify(failure).reason, classify(failure).retryable, requests) == (reason, False, 1)


async def test_a_timeout_is_a_retryable_failure_without_a_status() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    failure, requests = await _fail(timeout)
    assert (failure.status, failure.timed_out, requests) == (None, True, 1)
    assert classify(failure).detail == "Groq timed out"


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    assert retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after(httpx.Headers({"retry-after": "2.5"})) == 2.5
    assert retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None
