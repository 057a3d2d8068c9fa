"""The seed's identifyUser, in order: the tenant's WhatsApp config, then history, then none."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.contracts.messages import Channel, IdentifiedBy, MessageReceived
from shared.views.twilio import TwilioDirectory
from shared.views.whatsapp import WhatsAppDirectory


@dataclass(frozen=True)
class Identification:
    user_id: uuid.UUID | None
    by: IdentifiedBy


def identify_by_config(
    message: MessageReceived, directory: WhatsAppDirectory, twilio: TwilioDirectory | None = None
) -> Identification | None:
    """Business number id (webhooks), business number, then the seed's phoneNumber itself."""
    if message.channel == Channel.TWILIO:
        number = twilio.by_number(message.business_phone or "") if twilio else None
        return Identification(number.user_id, IdentifiedBy.TWILIO_CONFIG) if number else None
    account = None
    if message.phone_number_id:
        account = directory.by_phone_number_id(message.phone_number_id)
    if account is None and message.business_phone:
        account = directory.by_number_or_id(message.business_phone)
    if account is None and message.channel == Channel.API:
        # The seed matched the generic endpoint's phoneNumber against the tenants' numbers.
        account = directory.by_number_or_id(message.customer_phone)
    if account is None:
        return None
    return Identification(account.user_id, IdentifiedBy.WHATSAPP_CONFIG)


def from_history(user_id: uuid.UUID | None) -> Identification:
    if user_id is None:
        return Identification(None, IdentifiedBy.NONE)
    return Identification(user_id, IdentifiedBy.CONVERSATION_HISTORY)
