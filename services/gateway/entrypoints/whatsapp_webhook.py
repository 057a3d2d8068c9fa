"""WhatsApp Cloud API webhook: the subscription handshake, and deliveries in. Verify the
signature over the raw request, accept durably (one outbox unit: committed, and in Kafka
before the answer unless the broker is slow), then acknowledge; the reply goes out later
through the reply sender, never inside the webhook call."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from services.gateway.adapters.inbound import ProviderDelivery
from services.gateway.domain.echoes import echoes_in
from services.gateway.domain.inbound_events import whatsapp_events
from services.gateway.domain.whatsapp import (
    Delivery,
    PayloadError,
    parse_delivery,
    phone_number_ids_in,
    verify_signature,
)
from services.gateway.entrypoints.body import read_limited
from services.gateway.entrypoints.deps import GatewayDeps
from services.gateway.entrypoints.webhook_answers import WEBHOOKS, problem, traced
from shared.jsonlimits import JSONRefused, loads_limited, may_need_scrub, scrub
from shared.logging import get_logger

log = get_logger(__name__)
router = APIRouter()
# Meta batches updates of one business account: a handful of numbers at most. Each named
# number costs a directory lookup and a decrypt before the signature is known to be good.
MAX_NUMBERS_PER_DELIVERY = 64


@router.get("/whatsapp")
async def whatsapp_subscribe(request: Request, deps: GatewayDeps) -> Response:
    params = request.query_params
    token = params.get("hub.verify_token") or ""
    fallback = deps.settings.whatsapp_verify_token
    known = [fallback.get_secret_value()] if fallback else []
    known += [t for t in map(deps.secret_box.try_decrypt, deps.whatsapp.verify_tokens()) if t]
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
    be stored as is (invalid UTF-8, a lone surrogate, NUL) is stored with U+FFFD, not refused.

    Then one outbox unit for the whole delivery: its messages, statuses and business echoes
    (a human took over, issue 14)."""
    verified = await _verified(request, deps)
    if isinstance(verified, Response):
        return verified
    delivery, payload = verified
    try:
        answered, recorded, receipts = whatsapp_events(delivery, datetime.now(UTC).isoformat())
    except ValidationError:  # parse_delivery bounds every field; this is the safety net
        return problem("whatsapp", 400, "payload does not fit the event contract")
    try:
        accepted = await deps.inbound.accept_provider_delivery(
            ProviderDelivery(answered, recorded, receipts, echoes_in(payload))
        )
    except Exception as exc:
        log.error("could not accept whatsapp delivery", error=type(exc).__name__)
        return problem("whatsapp", 500, "temporarily unavailable")
    log.info(
        "whatsapp delivery accepted",
        published=accepted.published,
        messages=len(answered),
        recorded=len(recorded),
        statuses=len(receipts),
        duplicates=accepted.duplicates,
    )
    return traced("whatsapp", JSONResponse({"success": True}))


async def _verified(request: Request, deps: GatewayDeps) -> tuple[Delivery, object] | Response:
    """The signed, parsed delivery and its payload, or the problem answer."""
    raw = await read_limited(request, deps.settings.webhook_max_body_bytes)
    if raw is None:
        return problem("whatsapp", 413, "payload too large")
    named = phone_number_ids_in(raw)
    if len(named) > MAX_NUMBERS_PER_DELIVERY:
        return problem("whatsapp", 400, "too many phone numbers in one delivery")
    header = request.headers.get("x-hub-signature-256")
    if not _signed_by_owners(raw, header, named, deps):
        log.warning("whatsapp webhook with a missing or wrong signature refused")
        return problem("whatsapp", 401, "invalid signature")
    try:
        payload = loads_limited(raw, errors="replace")
        payload = scrub(payload) if may_need_scrub(raw) else payload
        delivery = parse_delivery(payload)
    except (JSONRefused, PayloadError) as exc:
        return problem("whatsapp", 400, str(exc))
    unchecked = delivery.phone_number_ids - named
    if unchecked and not _signed_by_owners(raw, header, unchecked, deps):
        log.warning("whatsapp webhook not signed by the owner of each number refused")
        return problem("whatsapp", 401, "invalid signature")
    return delivery, payload


def _signed_by_owners(
    raw: bytes, header: str | None, phone_number_ids: set[str], deps: GatewayDeps
) -> bool:
    """Each number's owner signed it: the tenant's app secret, else WHATSAPP_APP_SECRET.
    No number at all: WHATSAPP_APP_SECRET. `all` stops at the first secret that fails."""
    app_secret = deps.settings.whatsapp_app_secret
    fallback = app_secret.get_secret_value() if app_secret else None
    secrets: set[str] = set()
    for number_id in phone_number_ids or {""}:
        account = deps.whatsapp.by_phone_number_id(number_id) if number_id else None
        if account is not None and account.app_secret_encrypted:
            tenant_secret = deps.secret_box.try_decrypt(account.app_secret_encrypted)
            if tenant_secret is None:  # unreadable under SECRETS_KEY: refuse, never guess
                return False
            secrets.add(tenant_secret)
        elif fallback:
            secrets.add(fallback)
        else:
            return False
    return all(verify_signature(raw, header, secret) for secret in secrets)
