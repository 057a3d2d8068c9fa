"""The views' version rule: per entity, only a change newer than the held one applies; records
from before versions (version 0) apply in topic order."""

from __future__ import annotations

import json
import uuid

from pydantic import TypeAdapter

from services.responder.domain.groq_settings import GroqSettingsView
from shared.contracts.config_events import (
    ConfigEvent,
    GroqConfigChanged,
    SystemSettingsChanged,
    WhatsAppConfigChanged,
)
from shared.views.versions import InOrder
from shared.views.whatsapp import WhatsAppDirectory

ADAPTER: TypeAdapter[ConfigEvent] = TypeAdapter(ConfigEvent)


def _groq(user: uuid.UUID | None, model: str | None, version: int) -> GroqConfigChanged:
    return GroqConfigChanged(
        user_id=user,
        api_key_encrypted="key" if model else None,
        model=model,
        temperature=0.5 if model else None,
        version=version,
    )


def _model(view: GroqSettingsView, user: uuid.UUID) -> str | None:
    resolved = view.resolve(user)
    return resolved.account.model if resolved else None


def _responder() -> tuple[GroqSettingsView, InOrder]:
    view = GroqSettingsView()
    view.fallback_enabled = False
    return view, InOrder(view.apply)


def test_a_change_that_lost_the_publish_race_is_ignored() -> None:
    (view, apply), user = _responder(), uuid.uuid4()
    assert apply(_groq(user, "first", 1))
    assert apply(_groq(user, "third", 3))
    assert not apply(_groq(user, "second", 2))  # committed before 3, published after
    assert _model(view, user) == "third"


def test_the_same_version_again_is_a_duplicate() -> None:
    (view, apply), user = _responder(), uuid.uuid4()
    assert apply(_groq(user, "a", 4))
    assert not apply(_groq(user, "other payload, same version", 4))
    assert _model(view, user) == "a"


def test_versions_are_per_entity() -> None:
    (view, apply), alice, bob = _responder(), uuid.uuid4(), uuid.uuid4()
    assert apply(_groq(alice, "alice", 9))
    assert apply(_groq(bob, "bob", 1))  # another tenant: its own count
    assert apply(_groq(None, "system", 1))  # the system config: its own count too
    assert apply(SystemSettingsChanged(fallback_enabled=True, version=1))
    whatsapp = WhatsAppConfigChanged(
        user_id=alice,
        phone_number_id="pn1",
        display_phone_number="+14155550100",
        is_active=True,
        version=1,
    )
    assert apply(whatsapp)  # alice's WhatsApp config is another entity than her Groq one
    assert (_model(view, alice), _model(view, bob)) == ("alice", "bob")


def test_a_late_update_does_not_undo_a_delete() -> None:
    (view, apply), user = _responder(), uuid.uuid4()
    assert apply(_groq(user, "kept", 1))
    assert apply(_groq(user, None, 3))  # deleted
    assert not apply(_groq(user, "stale", 2))
    assert _model(view, user) is None
    assert apply(_groq(user, "created again", 4))  # the count survives the delete
    assert _model(view, user) == "created again"


def test_records_without_a_version_still_apply_in_topic_order() -> None:
    (view, apply), user = _responder(), uuid.uuid4()
    old = _groq(user, "old", 0).model_dump(mode="json")
    del old["version"]  # as written before versions existed
    assert ADAPTER.validate_json(json.dumps(old)).version == 0
    older = {**old, "model": "older"}

    assert apply(ADAPTER.validate_json(json.dumps(older)))
    assert apply(ADAPTER.validate_json(json.dumps(old)))
    assert _model(view, user) == "old"
    assert apply(_groq(user, "first versioned", 1))
    assert not apply(ADAPTER.validate_json(json.dumps(older)))  # version 0 < 1
    assert _model(view, user) == "first versioned"


def test_the_whatsapp_directory_keeps_the_newer_number() -> None:
    directory, user = WhatsAppDirectory(), uuid.uuid4()
    apply = InOrder(directory.apply)

    def number(number_id: str, version: int) -> WhatsAppConfigChanged:
        return WhatsAppConfigChanged(
            user_id=user,
            phone_number_id=number_id,
            display_phone_number="+14155550101",
            is_active=True,
            version=version,
        )

    assert apply(number("pn-new", 2))
    assert not apply(number("pn-old", 1))
    assert directory.by_phone_number_id("pn-new") is not None
    assert directory.by_phone_number_id("pn-old") is None
