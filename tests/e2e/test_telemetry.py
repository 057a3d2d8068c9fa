"""One trace per message across the services, JSON logs with trace ids, metrics that move."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.providers import meta_signature, text_message, whatsapp_payload
from tests.support.stack import Stack, random_number

pytestmark = pytest.mark.e2e


async def _trace(
    stack: Stack, trace_id: str, until: Any, timeout: float = 15
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = await stack.spans(trace_id)
        if until(spans):
            return spans
        await asyncio.sleep(0.2)
    return spans


def _roots(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {s["span_id"] for s in spans}
    return [s for s in spans if s["parent_span_id"] not in ids]


def _is_groq_call(span: dict[str, Any]) -> bool:
    url = str(span["attributes"].get("url.full") or span["attributes"].get("http.url") or "")
    return span["kind"] == "SPAN_KIND_CLIENT" and url.endswith("/openai/v1/chat/completions")


async def test_one_message_is_one_connected_trace(stack: Stack) -> None:
    user, number = await stack.new_tenant(f"gsk_trace_{uuid.uuid4().hex}")
    response = await stack.chat(number, f"trace me {uuid.uuid4()}")
    assert response.status_code == 200, response.text
    trace_id = response.json()["traceId"]
    assert response.headers["x-trace-id"] == trace_id

    def complete(spans: list[dict[str, Any]]) -> bool:
        services = {s["service"] for s in spans}
        return (
            {"gateway", "identity", "responder"} <= services
            and any(map(_is_groq_call, spans))
            and len(_roots(spans)) == 1  # spans still open are exported a moment later
        )

    spans = await _trace(stack, trace_id, complete)

    assert complete(spans), sorted({(s["service"], s["name"]) for s in spans})
    assert {s["trace_id"] for s in spans} == {trace_id}
    [root] = _roots(spans)
    assert root["service"] == "gateway" and root["kind"] == "SPAN_KIND_SERVER"
    responder = [
        s for s in spans if s["service"] == "responder" and s["kind"] == "SPAN_KIND_CONSUMER"
    ]
    assert responder and responder[0]["attributes"]["app.user_id"] == str(user)
    assert responder[0]["attributes"]["app.config_source"] == "user"
    groq = next(s for s in spans if _is_groq_call(s))
    assert groq["service"] == "responder"
    statements = [s for s in spans if s["attributes"].get("db.system") == "postgresql"]
    assert {s["service"] for s in statements} >= {"gateway", "responder"}
    # A statement is one span: a pool checkout is not a second ("connect") span.
    assert [s["name"] for s in statements if s["name"] == "connect"] == []
    for span in spans:  # no secret, no message text in any attribute
        assert "gsk_trace_" not in json.dumps(span["attributes"])


async def test_the_whatsapp_path_adds_the_graph_api_call(stack: Stack) -> None:
    user_id, number, number_id = uuid.uuid4(), random_number(), f"PN{uuid.uuid4().hex[:10]}"
    secret = f"secret-{uuid.uuid4().hex}"
    await stack.put_whatsapp(user_id, number, number_id, app_secret=secret)
    await stack.put_groq(user_id, f"gsk_{uuid.uuid4().hex}")
    message = text_message(random_number(), "trace the whatsapp path")
    body = whatsapp_payload(number_id, number, [message])
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client:
        ack = await client.post(
            "/webhooks/whatsapp",
            content=body,
            headers={
                "x-hub-signature-256": meta_signature(body, secret),
                "content-type": "application/json",
            },
        )
    assert ack.status_code == 200
    trace_id = ack.headers["x-trace-id"]

    def has_graph_call(spans: list[dict[str, Any]]) -> bool:
        return any(
            s["kind"] == "SPAN_KIND_CLIENT"
            and str(
                s["attributes"].get("url.full") or s["attributes"].get("http.url") or ""
            ).endswith(f"/{number_id}/messages")
            for s in spans
        )

    spans = await _trace(stack, trace_id, lambda s: has_graph_call(s) and len(_roots(s)) == 1)

    assert has_graph_call(spans), sorted({(s["service"], s["name"]) for s in spans})
    assert len(_roots(spans)) == 1


async def test_every_log_line_is_json_with_trace_fields_and_no_secret(stack: Stack) -> None:
    key = f"gsk_logcheck_{uuid.uuid4().hex}"
    _, number = await stack.new_tenant(key)
    response = await stack.chat(number, f"log me {uuid.uuid4()}")
    assert response.status_code == 200
    body = response.json()
    await asyncio.sleep(0.5)

    about_message = 0
    for service in stack.services:
        for line in service.log_text().splitlines():
            if not line.strip() or line.startswith("----- start"):
                continue
            record = json.loads(line)  # every line is one JSON object
            assert {"timestamp", "level", "service", "event"} <= set(record), record
            assert key not in line and "EAAtest" not in line
            if record.get("message_id") == body["messageId"]:
                about_message += 1
                assert record["trace_id"] == body["traceId"]
                assert "span_id" in record
    assert about_message >= 2  # gateway and responder (identity logs at DEBUG on its hot path)


async def test_metrics_move_and_consumer_lag_is_reported(stack: Stack) -> None:
    _, number = await stack.new_tenant(f"gsk_metrics_{uuid.uuid4().hex}")
    assert (await stack.chat(number, "count me")).status_code == 200
    async with httpx.AsyncClient(timeout=5) as client:
        texts = {s.name: (await client.get(s.url + "/metrics")).text for s in stack.services}
    assert 'gateway_messages_total{status="200"}' in texts["gateway"]
    assert "http_requests_total" in texts["gateway"]
    assert "identity_messages_total" in texts["identity"]
    assert 'responder_outcomes_total{config_source="user",outcome="answered"}' in texts["responder"]
    assert "responder_groq_seconds_bucket" in texts["responder"]
    assert 'responder_tokens_total{kind="output",tenant=' in texts["responder"]
    for name in ("identity", "responder"):
        assert "kafka_consumer_lag{" in texts[name]
        assert "kafka_records_processed_total{" in texts[name]
    assert "http_requests_total" in texts["config"]
