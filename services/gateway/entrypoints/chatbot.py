"""The seed's generic chatbot endpoint: accept durably, wait for the outcome, answer."""

from __future__ import annotations

import asyncio
import hmac
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from prometheus_client import Counter
from pydantic import ValidationError

from services.gateway.adapters.inbound import Inbound
from services.gateway.adapters.outcomes import OutcomeWaiters
from services.gateway.api.schemas import (
    RETRY_AFTER,
    Answer,
    ChatbotRequest,
    answer_for,
    bad_request,
    describe_errors,
    is_final,
    transient,
)
from services.gateway.entrypoints.body import read_limited
from services.gateway.entrypoints.deps import GatewayDeps
from services.gateway.settings import GatewaySettings
from shared.contracts.messages import Channel, MessageOutcome, MessageReceived, conversation_key
from shared.jsonlimits import JSONRefused, loads_limited
from shared.logging import get_logger
from shared.phones import normalize_phone
from shared.telemetry import current_trace_id

log = get_logger(__name__)
RECEIVED = Counter("gateway_messages_total", "Chatbot requests by answer status", ["status"])
router = APIRouter()


def _reply(answer: Answer) -> JSONResponse:
    status, body = answer
    RECEIVED.labels(str(status)).inc()
    headers = {"X-Trace-Id": current_trace_id() or ""}
    if RETRY_AFTER in body:
        body = {name: value for name, value in body.items() if name != RETRY_AFTER}
        headers["Retry-After"] = str(answer[1][RETRY_AFTER])
    return JSONResponse(body, status_code=status, headers=headers)


def _authorized(request: Request, settings: GatewaySettings) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    # compare_digest against every key: no early exit that would time the match.
    matches = [hmac.compare_digest(presented.strip().encode(), key) for key in settings.api_keys()]
    return any(matches)


@router.post("/api-chatbot")
@router.post("/functions/v1/api-chatbot")
async def api_chatbot(request: Request, deps: GatewayDeps) -> JSONResponse:
    state = deps
    settings: GatewaySettings = state.settings
    if not _authorized(request, settings):
        RECEIVED.labels("401").inc()
        return JSONResponse(
            {
                "success": False,
                "error": "Unauthorized: missing or invalid API key",
                "retryable": False,
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    raw = await read_limited(request, settings.gateway_max_body_bytes)
    if raw is None:
        return _reply(bad_request(f"body larger than {settings.gateway_max_body_bytes} bytes", 413))
    try:
        payload = loads_limited(raw)
    except JSONRefused as exc:  # not JSON, not UTF-8, nested too deep, NaN, …
        return _reply(bad_request(str(exc)))
    if not isinstance(payload, dict):
        return _reply(bad_request("body must be a JSON object"))
    try:
        chat = ChatbotRequest.model_validate(payload)
    except ValidationError as exc:
        return _reply(bad_request(describe_errors(exc.errors()), 422))
    return _reply(await _process(chat, state.inbound, state.waiters, settings))


async def _process(
    chat: ChatbotRequest,
    inbound: Inbound,
    waiters: OutcomeWaiters,
    settings: GatewaySettings,
) -> Answer:
    message_id = chat.messageId or str(uuid.uuid4())
    customer = normalize_phone(chat.phoneNumber)
    business = normalize_phone(chat.businessPhoneNumber) if chat.businessPhoneNumber else None
    event = MessageReceived(
        message_id=message_id,
        conversation_key=conversation_key(Channel.API, business, customer),
        channel=Channel.API,
        source=chat.source,
        customer_phone=customer,
        business_phone=business,
        text=chat.text,
        received_at=datetime.now(UTC).isoformat(),
    )
    span = trace.get_current_span()
    span.set_attribute("app.message_id", message_id)
    future = waiters.register(message_id)
    try:
        try:
            await waiters.listening()
            accepted = await inbound.accept(event, chat.fingerprint())
        except Exception as exc:
            log.error("could not accept message", message_id=message_id, error=type(exc).__name__)
            return transient(500)
        if accepted.fingerprint != chat.fingerprint():
            return bad_request("messageId was already used for a different message", 409)
        if accepted.outcome is not None and is_final(accepted.outcome):
            return answer_for(accepted.outcome, current_trace_id())
        # The event is already published (the outcome may even be in): this only makes the
        # waiter ignore outcomes of earlier attempts.
        waiters.raise_attempt(message_id, future, accepted.attempt)
        log.info(
            "message accepted",
            message_id=message_id,
            attempt=accepted.attempt,
            duplicate=not accepted.new,
        )
        try:
            outcome = await asyncio.wait_for(future, settings.gateway_reply_timeout_s)
        except TimeoutError:
            log.warning("no outcome before timeout", message_id=message_id)
            return transient(504)
        return await _kept_answer(inbound, outcome)
    finally:
        waiters.forget(message_id, future)


async def _kept_answer(inbound: Inbound, outcome: MessageOutcome) -> Answer:
    """The outcome's answer, once the outcome is on the message's row: the listener can hear
    it before the outcomes consumer has kept it there, and a retry sent the moment the
    caller is answered must find it."""
    try:
        await inbound.record_outcome(outcome)
    except Exception as exc:  # the consumer keeps it anyway, a moment later
        log.warning("outcome not kept before the answer", error=type(exc).__name__)
    return answer_for(outcome, current_trace_id())
