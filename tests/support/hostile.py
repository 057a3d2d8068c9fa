"""Tenants and checks for the hostile-input tests: what was stored for which marker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.support.db import rows
from tests.support.stack import Stack, random_number


@dataclass(frozen=True)
class WhatsAppTenant:
    number: str
    number_id: str
    secret: str


@dataclass(frozen=True)
class TwilioTenant:
    number: str
    sid: str
    token: str


async def whatsapp_tenant(stack: Stack) -> WhatsAppTenant:
    """A number with its own app secret and a Groq key, so its messages are answered."""
    user_id, number = uuid.uuid4(), random_number()
    number_id, secret = f"PN{uuid.uuid4().hex[:12]}", f"app-secret-{uuid.uuid4().hex}"
    await stack.put_whatsapp(user_id, number, number_id, app_secret=secret)
    await stack.put_groq(user_id, f"gsk_hostile_{uuid.uuid4().hex}")
    return WhatsAppTenant(number, number_id, secret)


async def twilio_tenant(stack: Stack) -> TwilioTenant:
    user_id, number = uuid.uuid4(), random_number()
    sid, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    body = {"account_sid": sid, "auth_token": token, "phone_number": number}
    response = await stack.config_call("PUT", "/v1/me/twilio-config", stack.user(user_id), body)
    assert response.status_code == 200, response.text
    await stack.put_groq(user_id, f"gsk_hostile_{uuid.uuid4().hex}")
    return TwilioTenant(number, sid, token)


async def stored_markers(stack: Stack, markers: list[str]) -> list[str]:
    """The markers found in any accepted message id or in any event the gateway staged."""
    if not markers:
        return []
    found = await rows(
        stack.database_url,
        "select m from unnest(cast(:markers as text[])) as m where exists "
        "(select 1 from gateway_outbox o where strpos(o.payload, m) > 0) or exists "
        "(select 1 from inbound_messages i where strpos(i.message_id, m) > 0)",
        markers=markers,
    )
    return [row["m"] for row in found]
