"""Twilio webhooks: inbound messages (WhatsApp and SMS) and the status callbacks of our own
replies. Both are form posts signed with the auth token of the number's owner; each is
accepted durably (one outbox unit) before it is acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from services.gateway.adapters.inbound import ProviderDelivery
from services.gateway.domain.inbound_events import twilio_events
from services.gateway.domain.twilio_status import twilio_receipt
from services.gateway.domain.whatsapp import ID_MAX, NUMBER_MAX, PayloadError
from services.gateway.entrypoints.body import read_limited
from services.gateway.entrypoints.deps import GatewayDeps
from services.gateway.entrypoints.webhook_answers import problem, traced
from services.gateway.settings import GatewaySettings
from shared.jsonlimits import scrub
from shared.logging import get_logger
from shared.views.twilio import TwilioAccount

log = get_logger(__name__)
router = APIRouter()
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post("/twilio")
async def twilio_receive(request: Request, deps: GatewayDeps) -> Response:
    form = await _signed_form(request, deps, "twilio", "To", _signed_url(request, deps.settings))
    if isinstance(form, Response):
        return form
    params, account = form
    sid, sender = params.get("MessageSid"), params.get("From", "")
    if not sid or not sender:
        return problem("twilio", 400, "MessageSid and From are required")
    if len(sid) > ID_MAX or len(sender.removeprefix("whatsapp:")) > NUMBER_MAX:
        return problem("twilio", 400, "MessageSid or From is too long")
    now = datetime.now(UTC).isoformat()
    answered, recorded = twilio_events(params, account.phone_number, now)
    try:
        await deps.inbound.accept_provider_delivery(ProviderDelivery(answered, recorded))
    except Exception as exc:
        log.error("could not accept twilio message", error=type(exc).__name__)
        return problem("twilio", 500, "temporarily unavailable")
    return traced("twilio", Response(EMPTY_TWIML, media_type="application/xml"))


@router.post("/twilio/status")
async def twilio_status(request: Request, deps: GatewayDeps) -> Response:
    """A status callback of one of our replies (the StatusCallback each send sets): signed
    like an inbound message, but by the owner of `From` (our number). Stored and published
    once per (message, status); it never starts the bot. A status Twilio does not document
    is acknowledged and ignored."""
    url = deps.settings.twilio_status_callback_url or _signed_url(request, deps.settings)
    form = await _signed_form(request, deps, "twilio_status", "From", url)
    if isinstance(form, Response):
        return form
    params, _ = form
    try:
        receipt = twilio_receipt(params)
    except (PayloadError, ValidationError) as exc:
        return problem("twilio_status", 400, str(exc).splitlines()[0])
    if receipt is None:
        log.info("twilio status of an unknown kind ignored", status=params["MessageStatus"][:32])
    else:
        try:
            await deps.inbound.accept_provider_delivery(ProviderDelivery([], receipts=[receipt]))
        except Exception as exc:
            log.error("could not accept twilio status", error=type(exc).__name__)
            return problem("twilio_status", 500, "temporarily unavailable")
    return traced("twilio_status", Response(status_code=204))


async def _signed_form(
    request: Request, deps: GatewayDeps, provider: str, number_field: str, url: str
) -> tuple[dict[str, str], TwilioAccount] | Response:
    """The form's fields (NUL scrubbed) and the account of the number in `number_field`,
    once its owner's signature checks out; else the answer refusing it."""
    raw = await read_limited(request, deps.settings.gateway_max_body_bytes)
    if raw is None:
        return problem(provider, 413, "payload too large")
    try:
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return problem(provider, 400, "body is not form-encoded")
    account = deps.twilio.by_number(params.get(number_field, ""))
    if account is None or not _twilio_signed(request, url, params, account, deps):
        return problem(provider, 403, "invalid signature")
    # parse_qsl already turned undecodable %-escapes into U+FFFD; NUL is replaced the same way.
    return {key: scrub(value) for key, value in params.items()}, account


def _signed_url(request: Request, settings: GatewaySettings) -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL when set (behind a proxy), else as forwarded."""
    path_and_query = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path_and_query
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc))
    return f"{proto}://{host}{path_and_query}"


def _twilio_signed(
    request: Request, url: str, params: dict[str, str], account: TwilioAccount, deps: GatewayDeps
) -> bool:
    """Signed by the number's owner with its auth token, over the URL Twilio called."""
    signature = request.headers.get("x-twilio-signature", "")
    auth_token = deps.secret_box.try_decrypt(account.auth_token_encrypted) if signature else None
    if auth_token is None:
        return False
    try:
        valid: bool = RequestValidator(auth_token).validate(url, params, signature)
    except ValueError:  # a Host or X-Forwarded-Host that is no URL authority ("h:x", "[")
        valid = False
    if not valid:
        log.warning("twilio webhook with a wrong signature refused")
    return valid
