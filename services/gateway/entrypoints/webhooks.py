"""Provider webhooks in, under /webhooks: WhatsApp Cloud API (`whatsapp_webhook`) and
Twilio messages and status callbacks (`twilio_webhook`)."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.entrypoints import twilio_webhook, whatsapp_webhook
from services.gateway.entrypoints.twilio_webhook import EMPTY_TWIML

__all__ = ["EMPTY_TWIML", "router"]

router = APIRouter(prefix="/webhooks")
router.include_router(whatsapp_webhook.router)
router.include_router(twilio_webhook.router)
