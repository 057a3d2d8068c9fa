"""Signed WhatsApp Cloud API deliveries (one message each: text, or a given one such as a
voice note), pre-built as raw requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench.rawhttp import build_request
from bench.tenants import Tenant

TEXT_PREFIX = "bench "


@dataclass(frozen=True)
class Message:
    wamid: str
    conversation: str  # tenant number id + customer: what the system keeps in order
    raw: bytes  # the whole HTTP request


def customer_number(tenant_index: int, customer: int) -> str:
    """A plausible US number per (tenant, customer); customer < 10,000."""
    return f"+1646{200 + tenant_index:03d}{customer:04d}"


def delivery_body(
    tenant: Tenant, customer: str, wamid: str, content: dict[str, Any] | None = None
) -> bytes:
    """`content`: the message's type and its object (default: a text tagged with wamid)."""
    message = {
        "from": customer.removeprefix("+"),
        "id": wamid,
        "timestamp": str(int(time.time())),
        **(content or {"type": "text", "text": {"body": TEXT_PREFIX + wamid}}),
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA_BENCH",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": tenant.number.removeprefix("+"),
                                "phone_number_id": tenant.phone_number_id,
                            },
                            "contacts": [
                                {"profile": {"name": "Customer"}, "wa_id": message["from"]}
                            ],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


def signed_message(
    tenant: Tenant,
    tenant_index: int,
    customer: int,
    port: int,
    content: dict[str, Any] | None = None,
) -> Message:
    number = customer_number(tenant_index, customer)
    wamid = f"wamid.BENCH{uuid.uuid4().hex}"
    body = delivery_body(tenant, number, wamid, content)
    signature = "sha256=" + hmac.new(tenant.app_secret.encode(), body, hashlib.sha256).hexdigest()
    raw = build_request(
        "POST",
        "/webhooks/whatsapp",
        port,
        body,
        {"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    return Message(wamid, f"{tenant.phone_number_id}:{number}", raw)


def conversations(
    tenants: list[Tenant],
    port: int,
    *,
    customers_per_tenant: int,
    messages_per_customer: int,
    first_customer: int = 0,
) -> list[Message]:
    """Messages interleaved so consecutive ones belong to different conversations:
    round r holds the r-th message of every conversation, tenants alternating."""
    out: list[Message] = []
    for _ in range(messages_per_customer):
        for customer in range(first_customer, first_customer + customers_per_tenant):
            for index, tenant in enumerate(tenants):
                out.append(signed_message(tenant, index, customer, port))
    return out
