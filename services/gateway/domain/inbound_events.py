"""The events a provider webhook turns into: messages to answer, messages only recorded
(no text to answer), and delivery statuses of our own replies. Pure: the caller passes
the time of acceptance."""

from __future__ import annotations

from services.gateway.domain.delivery_errors import status_reason
from services.gateway.domain.media import twilio_media
from services.gateway.domain.whatsapp import Delivery
from shared.contracts.deliveries import DeliveryStatusReported
from shared.contracts.messages import Channel, MessageReceived, conversation_key
from shared.phones import normalize_phone

Recorded = tuple[str, Channel, str]  # (message id, channel, kind) of a message not answered


def whatsapp_events(
    delivery: Delivery, now: str
) -> tuple[list[MessageReceived], list[Recorded], list[DeliveryStatusReported]]:
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


def twilio_events(
    params: dict[str, str], business_phone: str, now: str
) -> tuple[list[MessageReceived], list[Recorded]]:
    """The message to answer (text or media), else the one only recorded. `params` carry
    a MessageSid and a From (the caller checked both)."""
    sid, sender = params["MessageSid"], params["From"]
    text = params.get("Body", "").strip()
    media = twilio_media(params)
    if not text and media is None:
        kind = "media" if params.get("NumMedia", "0") != "0" else "empty"
        return [], [(sid, Channel.TWILIO, kind)]
    customer = normalize_phone(sender.removeprefix("whatsapp:"))
    event = MessageReceived(
        message_id=sid,
        conversation_key=conversation_key(Channel.TWILIO, business_phone, customer),
        channel=Channel.TWILIO,
        source="whatsapp" if sender.startswith("whatsapp:") else "sms",
        customer_phone=customer,
        business_phone=business_phone,
        text=text,
        received_at=now,
        message_type=media.kind.value if media is not None else "text",
        media=media,
    )
    return [event], []
