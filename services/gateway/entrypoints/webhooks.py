"""Provider webhooks in: WhatsApp Cloud API and Twilio. Verify the signature over the raw
request, accept durably (one outbox unit: committed, and in Kafka before the answer unless
the broker is slow), then acknowledge; the reply goes out later through the reply sender,
never inside the webhook call."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from services.gateway.adapters.inbound import Inbound
from services.gateway.domain.delivery_errors import status_reason
from services.gateway.domain.echoes import echoes_in
from services.gateway.domain.media import twilio_media
from services.gateway.domain.twilio_status import twilio_receipt
from services.gateway.domain.whatsapp import (
    ID_MAX,
    NUMBER_MAX,
    Delivery,
    PayloadError,
    parse_delivery,
    phone_number_ids_in,
    verify_signature,
)
from services.gateway.entrypoints.body import read_limited
from services.gateway.entrypoints.deps import GatewayDeps
from services.gateway.settings import GatewaySettings
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel, MessageReceived, conversation_key
from shared.crypto import SecretBox
from shared.jsonlimits import JSONRefused, loads_limited, may_need_scrub, scrub
from shared.logging import get_logger
from shared.phones import normalize_phone
from shared.telemetry import current_trace_id
from shared.views.twilio import TwilioAccount
from shared.views.whatsapp import WhatsAppDirectory

log = get_logger(__name__)
WEBHOOKS = Counter(
    "gateway_webhooks_total", "Provider webhook calls by answer", ["provider", "status"]
)
router = APIRouter(prefix="/webhooks")
# Meta batches updates of one business account: a handful of numbers at most. Each named
# number costs a directory lookup and a decrypt before the signature is known to be good.
MAX_NUMBERS_PER_DELIVERY = 64


def _traced(response: Response) -> Response:
    response.headers["X-Trace-Id"] = current_trace_id() or ""
    return response


def _problem(provider: str, status: int, error: str) -> Response:
    WEBHOOKS.labels(provider, str(status)).inc()
    return _traced(JSONResponse({"success": False, "error": error}, status_code=status))


# WhatsApp Cloud API ----------------------------------------------------------------------------
@router.get("/whatsapp")
async def whatsapp_subscribe(request: Request, deps: GatewayDeps) -> Response:
    params = request.query_params
    settings: GatewaySettings = deps.settings
    token = params.get("hub.verify_token") or ""
    known = (
        [settings.whatsapp_verify_token.get_secret_value()]
        if settings.whatsapp_verify_token
        else []
    )
    box: SecretBox = deps.secret_box
    known += [t for t in map(box.try_decrypt, deps.whatsapp.verify_tokens()) if t]
    matches = [hmac.compare_digest(token.encode(), k.encode()) for k in known]
    if params.get("hub.mode") == "subscribe" and token and any(matches):
        WEBHOOKS.labels("whatsapp", "200").inc()
        return PlainTextResponse(params.get("hub.challenge", ""))
    WEBHOOKS.labels("whatsapp", "403").inc()
    return PlainTextResponse("verification failed", status_code=403)


@router.post("/whatsapp")
async def whatsapp_receive(request: Request, deps: GatewayDeps) -> Response:
    """Order of work, cheapest first, so an unsigned body costs no more than a regex and one
    HMAC: size cap; the signature over the raw bytes, with the secrets of the numbers the body
    names (found by a regex, `phone_number_ids_in`, not by parsing it); then the depth-limited
    parse; then the numbers the parse found, should the regex have missed one (written with
    escapes), are checked as well. Trying every tenant's secret instead would cost one HMAC
    of up to 3 MB per tenant for each forged request.

    A signed body is Meta's: it would redeliver a refused one for 7 days, so text that cannot
    be stored as is (invalid UTF-8, a lone surrogate, NUL) is stored with U+FFFD, not refused."""
    state = deps
    settings: GatewaySettings = state.settings
    raw = await read_limited(request, settings.webhook_max_body_bytes)
    if raw is None:
        return _problem("whatsapp", 413, "payload too large")
    named = phone_number_ids_in(raw)
    if len(named) > MAX_NUMBERS_PER_DELIVERY:
        return _problem("whatsapp", 400, "too many phone numbers in one delivery")
    header = request.headers.get("x-hub-signature-256")
    if not _signed_by_owners(raw, header, named, state.whatsapp, state.secret_box, settings):
        log.warning("whatsapp webhook with a missing or wrong signature refused")
        return _problem("whatsapp", 401, "invalid signature")
    try:
        payload = loads_limited(raw, errors="replace")
        payload = scrub(payload) if may_need_scrub(raw) else payload
        delivery = parse_delivery(payload)
    except (JSONRefused, PayloadError) as exc:
        return _problem("whatsapp", 400, str(exc))
    unchecked = delivery.phone_number_ids - named
    if unchecked and not _signed_by_owners(
        raw, header, unchecked, state.whatsapp, state.secret_box, settings
    ):
        log.warning("whatsapp webhook not signed by the owner of each number refused")
        return _problem("whatsapp", 401, "invalid signature")
    try:
        answered, recorded, receipts = _whatsapp_events(delivery)
    except ValidationError:  # parse_delivery bounds every field; this is the safety net
        return _problem("whatsapp", 400, "payload does not fit the event contract")
    inbound: Inbound = state.inbound
    try:
        # business echoes: a human took over (issue 14), in the same transaction
        accepted = await inbound.accept_provider_delivery(
            answered, recorded, receipts, echoes_in(payload)
        )
    except Exception as exc:
        log.error("could not accept whatsapp delivery", error=type(exc).__name__)
        return _problem("whatsapp", 500, "temporarily unavailable")
    log.info(
        "whatsapp delivery accepted",
        published=accepted.published,
        messages=len(answered),
        recorded=len(recorded),
        statuses=len(receipts),
        duplicates=accepted.duplicates,
    )
    WEBHOOKS.labels("whatsapp", "200").inc()
    return _traced(JSONResponse({"success": True}))


def _whatsapp_events(
    delivery: Delivery,
) -> tuple[list[MessageReceived], list[tuple[str, Channel, str]], list[DeliveryStatusReported]]:
    now = datetime.now(UTC).isoformat()
    answered = [
        MessageReceived(
            message_id=m.wamid,
            conversation_key=conversation_key(
                Channel.WHATSAPP, m.phone_number_id, normalize_phone(m.customer)
            ),
            channel=Channel.WHATSAPP,
            source="whatsapp",
            customer_phone=normalize_phone(m.customer),
            business_phone=normalize_phone(m.display_phone_number)
            if m.display_phone_number
            else None,
            phone_number_id=m.phone_number_id,
            text=m.text,
            message_type=m.message_type,
            received_at=now,
            media=m.media,
        )
        for m in delivery.messages
        if m.text is not None
    ]
    recorded = [
        (m.wamid, Channel.WHATSAPP, m.message_type) for m in delivery.messages if m.text is None
    ]
    receipts = [
        DeliveryStatusReported(
            channel=Channel.WHATSAPP,
            provider_message_id=s.wamid,
            status=s.status,
            recipient=s.recipient,
            phone_number_id=s.phone_number_id,
            timestamp=s.timestamp,
            errors=s.errors,
            reason=status_reason(s.status, s.errors),
        )
        for s in delivery.statuses
    ]
    return answered, recorded, receipts


def _signed_by_owners(
    raw: bytes,
    header: str | None,
    phone_number_ids: set[str],
    directory: WhatsAppDirectory,
    box: SecretBox,
    settings: GatewaySettings,
) -> bool:
    """Each number's owner signed it: the tenant's app secret, else WHATSAPP_APP_SECRET.
    No number at all: WHATSAPP_APP_SECRET. `all` stops at the first secret that fails."""
    fallback = (
        settings.whatsapp_app_secret.get_secret_value() if settings.whatsapp_app_secret else None
    )
    secrets: set[str] = set()
    for number_id in phone_number_ids or {""}:
        account = directory.by_phone_number_id(number_id) if number_id else None
        if account is not None and account.app_secret_encrypted:
            tenant_secret = box.try_decrypt(account.app_secret_encrypted)
            if tenant_secret is None:  # unreadable under SECRETS_KEY: refuse, never guess
                return False
            secrets.add(tenant_secret)
        elif fallback:
            secrets.add(fallback)
        else:
            return False
    return all(verify_signature(raw, header, secret) for secret in secrets)


# Twilio ----------------------------------------------------------------------------------------
def _signed_url(request: Request, settings: GatewaySettings) -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL when set (behind a proxy), else as forwarded."""
    path_and_query = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path_and_query
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc))
    return f"{proto}://{host}{path_and_query}"


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post("/twilio")
async def twilio_receive(request: Request, deps: GatewayDeps) -> Response:
    state = deps
    settings: GatewaySettings = state.settings
    raw = await read_limited(request, settings.gateway_max_body_bytes)
    if raw is None:
        return _problem("twilio", 413, "payload too large")
    try:
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return _problem("twilio", 400, "body is not form-encoded")
    account = state.twilio.by_number(params.get("To", ""))
    url = _signed_url(request, settings)
    if account is None or not _twilio_signed(request, url, params, account, state.secret_box):
        return _problem("twilio", 403, "invalid signature")
    # parse_qsl already turned undecodable %-escapes into U+FFFD; NUL is replaced the same way.
    params = {key: scrub(value) for key, value in params.items()}
    sid, sender = params.get("MessageSid"), params.get("From", "")
    if not sid or not sender:
        return _problem("twilio", 400, "MessageSid and From are required")
    if len(sid) > ID_MAX or len(sender.removeprefix("whatsapp:")) > NUMBER_MAX:
        return _problem("twilio", 400, "MessageSid or From is too long")
    answered, recorded = _twilio_events(sid, sender, params, account)
    try:
        await state.inbound.accept_provider_delivery(answered, recorded, [])
    except Exception as exc:
        log.error("could not accept twilio message", error=type(exc).__name__)
        return _problem("twilio", 500, "temporarily unavailable")
    WEBHOOKS.labels("twilio", "200").inc()
    return _traced(Response(EMPTY_TWIML, media_type="application/xml"))


@router.post("/twilio/status")
async def twilio_status(request: Request, deps: GatewayDeps) -> Response:
    """A status callback of one of our replies (the StatusCallback each send sets): signed
    like an inbound message, but by the owner of `From` (our number). Stored and published
    once per (message, status); it never starts the bot. A status Twilio does not document
    is acknowledged and ignored."""
    state = deps
    settings: GatewaySettings = state.settings
    raw = await read_limited(request, settings.gateway_max_body_bytes)
    if raw is None:
        return _problem("twilio_status", 413, "payload too large")
    try:
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return _problem("twilio_status", 400, "body is not form-encoded")
    account = state.twilio.by_number(params.get("From", ""))
    url = settings.twilio_status_callback_url or _signed_url(request, settings)
    if account is None or not _twilio_signed(request, url, params, account, state.secret_box):
        return _problem("twilio_status", 403, "invalid signature")
    try:
        receipt = twilio_receipt({key: scrub(value) for key, value in params.items()})
    except (PayloadError, ValidationError) as exc:
        return _problem("twilio_status", 400, str(exc).splitlines()[0])
    if receipt is None:
        log.info("twilio status of an unknown kind ignored", status=params["MessageStatus"][:32])
    else:
        try:
            await state.inbound.accept_provider_delivery([], [], [receipt])
        except Exception as exc:
            log.error("could not accept twilio status", error=type(exc).__name__)
            return _problem("twilio_status", 500, "temporarily unavailable")
    WEBHOOKS.labels("twilio_status", "200").inc()
    return _traced(Response(status_code=204))


def _twilio_signed(
    request: Request,
    url: str,
    params: dict[str, str],
    account: TwilioAccount,
    box: SecretBox,
) -> bool:
    """Signed by the number's owner with its auth token, over the URL Twilio called."""
    signature = request.headers.get("x-twilio-signature", "")
    auth_token = box.try_decrypt(account.auth_token_encrypted) if signature else None
    if auth_token is None:
        return False
    try:
        valid: bool = RequestValidator(auth_token).validate(url, params, signature)
    except ValueError:  # a Host or X-Forwarded-Host that is no URL authority ("h:x", "[")
        valid = False
    if not valid:
        log.warning("twilio webhook with a wrong signature refused")
    return valid


def _twilio_events(
    sid: str, sender: str, params: dict[str, str], account: TwilioAccount
) -> tuple[list[MessageReceived], list[tuple[str, Channel, str]]]:
    """The message to answer (text or media), else the one only recorded."""
    text = params.get("Body", "").strip()
    media = twilio_media(params)
    if not text and media is None:
        kind = "media" if params.get("NumMedia", "0") != "0" else "empty"
        return [], [(sid, Channel.TWILIO, kind)]
    customer = normalize_phone(sender.removeprefix("whatsapp:"))
    event = MessageReceived(
        message_id=sid,
        conversation_key=conversation_key(Channel.TWILIO, account.phone_number, customer),
        channel=Channel.TWILIO,
        source="whatsapp" if sender.startswith("whatsapp:") else "sms",
        customer_phone=customer,
        business_phone=account.phone_number,
        text=text,
        received_at=datetime.now(UTC).isoformat(),
        message_type=media.kind.value if media is not None else "text",
        media=media,
    )
    return [event], []
