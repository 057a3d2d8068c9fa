from __future__ import annotations

import uuid

from services.identity.domain.identify import from_history, identify_by_config
from shared.contracts.config_events import WhatsAppConfigChanged
from shared.contracts.messages import Channel, IdentifiedBy, MessageReceived
from shared.views.whatsapp import WhatsAppDirectory


def _message(**overrides: object) -> MessageReceived:
    fields: dict[str, object] = {
        "message_id": "m1",
        "conversation_key": "k",
        "channel": Channel.API,
        "source": "whatsapp",
        "customer_phone": "+14155550199",
        "text": "hi",
        "received_at": "2026-01-01T00:00:00Z",
        **overrides,
    }
    return MessageReceived.model_validate(fields)


def _directory(
    user: uuid.UUID, number: str = "+14155550101", number_id: str = "1001"
) -> WhatsAppDirectory:
    directory = WhatsAppDirectory()
    directory.apply(
        WhatsAppConfigChanged(
            user_id=user, phone_number_id=number_id, display_phone_number=number, is_active=True
        )
    )
    return directory


def test_the_seed_matches_phone_number_against_tenant_numbers_in_e164() -> None:
    user = uuid.uuid4()
    found = identify_by_config(_message(customer_phone="1 (415) 555-0101"), _directory(user))
    assert found is not None
    assert (found.user_id, found.by) == (user, IdentifiedBy.WHATSAPP_CONFIG)


def test_phone_number_id_and_business_number_identify_the_tenant() -> None:
    user = uuid.uuid4()
    directory = _directory(user)
    by_id = identify_by_config(
        _message(channel=Channel.WHATSAPP, phone_number_id="1001"), directory
    )
    by_business = identify_by_config(_message(business_phone="+14155550101"), directory)
    assert by_id is not None and by_id.user_id == user
    assert by_business is not None and by_business.user_id == user


def test_inactive_or_deleted_configs_identify_nobody() -> None:
    user = uuid.uuid4()
    directory = _directory(user)
    directory.apply(
        WhatsAppConfigChanged(
            user_id=user,
            phone_number_id="1001",
            display_phone_number="+14155550101",
            is_active=False,
        )
    )
    assert identify_by_config(_message(customer_phone="+14155550101"), directory) is None
    assert len(directory) == 0


def test_a_number_moving_to_another_tenant_follows_the_latest_event() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    directory = _directory(first)
    directory.apply(
        WhatsAppConfigChanged(
            user_id=first, phone_number_id=None, display_phone_number=None, is_active=False
        )
    )
    directory.apply(
        WhatsAppConfigChanged(
            user_id=second,
            phone_number_id="1001",
            display_phone_number="+14155550101",
            is_active=True,
        )
    )
    found = identify_by_config(_message(customer_phone="+14155550101"), directory)
    assert found is not None and found.user_id == second


def test_history_then_none() -> None:
    user = uuid.uuid4()
    assert from_history(user).by == IdentifiedBy.CONVERSATION_HISTORY
    assert from_history(None).by == IdentifiedBy.NONE
    assert from_history(None).user_id is None
