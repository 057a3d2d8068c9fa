"""Provider-side helpers: Meta's webhook payloads and signatures, Twilio's signed forms."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from twilio.request_validator import RequestValidator


def wamid() -> str:
    return f"wamid.TEST{uuid.uuid4().hex}"


def text_message(customer: str, text: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "from": customer.removeprefix("+"),
        "id": message_id or wamid(),
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }


def whatsapp_payload(
    phone_number_id: str,
    display_number: str,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
) -> bytes:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_number.removeprefix("+"),
            "phone_number_id": phone_number_id,
        },
    }
    if messages is not None:
        value["messages"] = messages
        value["contacts"] = [
            {"profile": {"name": "Customer"}, "wa_id": m["from"]} for m in messages
        ]
    if statuses is not None:
        value["statuses"] = statuses
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()


def meta_signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    signature: str = RequestValidator(auth_token).compute_signature(url, params)
    return signature
