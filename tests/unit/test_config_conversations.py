"""Conversation and media settings, owner changes and the conversations read model: the
routes over the real unit of work and repository with in-memory fakes (as in
test_config_routes.py), and the pure folding of projected events into conversations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.audit import Actor
from services.config.adapters.outbox import ConfigOutbox
from services.config.api import errors
from services.config.api.auth import current_user
from services.config.api.deps import ApiDeps, running_deps
from services.config.domain import conversations as domain
from services.config.domain.changes import Action, Entity
from services.config.domain.projection import project
from services.config.entrypoints import conversations_api
from services.config.settings import ConfigSettings
from shared.contracts.config_events import ConversationSettingsChanged, MediaSettingsChanged
from shared.contracts.conversations import (
    ConversationOwner,
    ConversationOwnerChanged,
    OwnerChangedBy,
    TurnStarted,
)
from shared.contracts.messages import Channel, IdentifiedBy, UserIdentified
from shared.contracts.topics import CONFIG_CHANGES, CONVERSATION_OWNERS
from shared.crypto import SecretBox
from tests.unit.test_config_routes import USER, FakeAudit, FakeOutbox, FakeStore

KEY = "whatsapp:+14155550100:+14155550199"
OTHER_KEY = "whatsapp:+14155550100:+14155550777"


class FakeDirectory:
    def __init__(self, known: set[tuple[uuid.UUID, str]]) -> None:
        self.known = known

    async def exists(self, user_id: uuid.UUID, conversation_key: str) -> bool:
        return (user_id, conversation_key) in self.known

    async def page(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[int, list[Any]]:
        return 0, []

    async def tenant_owner(self, user_id: uuid.UUID) -> Any:
        return None


Parts = tuple[FastAPI, FakeStore, FakeOutbox, list[Any]]


@pytest.fixture
def parts(box: SecretBox) -> Parts:
    store, outbox = FakeStore(), FakeOutbox()
    audited: list[Any] = []
    directory = FakeDirectory({(USER, KEY), (uuid.uuid4(), OTHER_KEY)})

    def audits(_: AsyncSession, __: Actor) -> FakeAudit:
        return FakeAudit(audited)

    deps = ApiDeps(
        cast(ConfigSettings, None),
        box,
        cast(Any, None),
        cast(ConfigOutbox, outbox),
        stores=lambda _: store,
        audits=audits,
        conversations=lambda _: directory,
    )
    app = FastAPI()
    app.include_router(conversations_api.router)
    errors.install(app)
    app.dependency_overrides[running_deps] = lambda: deps
    app.dependency_overrides[current_user] = lambda: USER
    return app, store, outbox, audited


@pytest.fixture
def box() -> SecretBox:
    from cryptography.fernet import Fernet

    return SecretBox(Fernet.generate_key().decode())


async def _call(app: FastAPI, method: str, path: str, body: object = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, json=body)


async def test_unset_settings_answer_the_contracts_defaults(parts: Parts) -> None:
    app, _, outbox, _ = parts
    conversation = (await _call(app, "GET", "/v1/me/conversation-settings")).json()
    media = (await _call(app, "GET", "/v1/me/media-settings")).json()

    expected = ConversationSettingsChanged(user_id=USER).model_dump(mode="json")
    assert {k: conversation[k] for k in conversation if k != "updated_at"} == {
        k: expected[k] for k in conversation if k != "updated_at"
    }
    assert conversation["updated_at"] is None and media["updated_at"] is None
    assert media["transcription_model"] == "whisper-large-v3-turbo"
    assert media["vision_model"] is None and media["text_language"] == "fr"
    assert outbox.published == []  # a read stages nothing


async def test_put_conversation_settings_stages_the_event_with_its_version(parts: Parts) -> None:
    app, _, outbox, audited = parts
    body = {
        "turn_quiet_ms": 1500,
        "turn_max_ms": 6000,
        "typing_indicator": False,
        "handoff_phrases": ["  parler à   un humain ", "agent", "agent"],
        "reengagement_template": "hello_again_2",
        "template_language": "en_US",
    }
    response = await _call(app, "PUT", "/v1/me/conversation-settings", body)

    assert response.status_code == 200, response.text
    assert response.json()["handoff_phrases"] == ["parler à un humain", "agent"]
    [staged] = outbox.published
    event = ConversationSettingsChanged.model_validate_json(staged.payload)
    assert (staged.topic, staged.key) == (
        CONFIG_CHANGES.name,
        f"ConversationSettingsChanged:{USER}",
    )
    assert (event.turn_quiet_ms, event.turn_max_ms, event.typing_indicator) == (1500, 6000, False)
    assert (event.reengagement_template, event.template_language, event.version) == (
        "hello_again_2",
        "en_US",
        1,
    )
    assert event.read_receipts is True and event.human_expiry_s == 43200  # defaults
    assert audited[0][:2] == (Entity.CONVERSATION_SETTINGS, Action.CREATED)


async def test_put_media_settings_stages_the_event(parts: Parts) -> None:
    app, _, outbox, audited = parts
    body = {
        "language_hint": "en",
        "vision_model": "meta-llama/llama-4-scout-17b-16e-instruct",
        "text_language": "en",
        "polite_texts": {"document": "Sorry, I cannot open documents.\nPlease type."},
        "document_text_limit": 0,
    }
    response = await _call(app, "PUT", "/v1/me/media-settings", body)

    assert response.status_code == 200, response.text
    [staged] = outbox.published
    event = MediaSettingsChanged.model_validate_json(staged.payload)
    assert staged.key == f"MediaSettingsChanged:{USER}"
    assert event.vision_model == "meta-llama/llama-4-scout-17b-16e-instruct"
    assert event.polite_texts == {"document": "Sorry, I cannot open documents.\nPlease type."}
    assert (event.language_hint, event.document_text_limit) == ("en", 0)
    assert audited[0][0] is Entity.MEDIA_SETTINGS


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/me/conversation-settings", {"turn_quiet_ms": -1}),
        ("/v1/me/conversation-settings", {"turn_quiet_ms": 60001}),
        ("/v1/me/conversation-settings", {"turn_max_ms": 120001}),
        ("/v1/me/conversation-settings", {"turn_quiet_ms": 5000, "turn_max_ms": 1000}),
        ("/v1/me/conversation-settings", {"human_expiry_s": 59}),
        ("/v1/me/conversation-settings", {"handoff_phrases": ["x" * 101]}),
        ("/v1/me/conversation-settings", {"handoff_phrases": ["   "]}),
        ("/v1/me/conversation-settings", {"handoff_phrases": [f"p{i}" for i in range(51)]}),
        ("/v1/me/conversation-settings", {"reengagement_template": "Hello World"}),
        ("/v1/me/conversation-settings", {"template_language": "french"}),
        ("/v1/me/conversation-settings", {"unknown": 1}),
        ("/v1/me/media-settings", {"transcription_model": ""}),
        ("/v1/me/media-settings", {"transcription_model": "model with spaces"}),
        ("/v1/me/media-settings", {"language_hint": "fra"}),
        ("/v1/me/media-settings", {"polite_texts": {"hologram": "no"}}),
        ("/v1/me/media-settings", {"polite_texts": {"image": "x" * 1001}}),
        ("/v1/me/media-settings", {"polite_texts": {"image": "bell\x07"}}),
        ("/v1/me/media-settings", {"document_text_limit": 200001}),
    ],
)
async def test_invalid_settings_are_422_and_stage_nothing(
    parts: Parts, path: str, body: dict[str, Any]
) -> None:
    app, store, outbox, _ = parts
    response = await _call(app, "PUT", path, body)
    assert response.status_code == 422, response.text
    assert outbox.published == [] and store.rows == {}


async def test_owner_change_is_published_keyed_by_conversation_with_an_audit_row(
    parts: Parts,
) -> None:
    app, store, outbox, audited = parts
    store.rows[(Entity.CONVERSATION_SETTINGS, USER)] = {"human_expiry_s": 600}
    before = datetime.now(UTC)

    response = await _call(app, "PUT", f"/v1/me/conversations/{KEY}/owner", {"owner": "human"})

    assert response.status_code == 200, response.text
    [staged] = outbox.published
    event = ConversationOwnerChanged.model_validate_json(staged.payload)
    assert (staged.topic, staged.key) == (CONVERSATION_OWNERS.name, KEY)
    assert (event.owner, event.changed_by, event.actor) == (
        ConversationOwner.HUMAN,
        OwnerChangedBy.TENANT_API,
        str(USER),
    )
    assert event.until is not None  # the tenant's expiry: 10 minutes
    assert (
        before + timedelta(seconds=599) <= event.until <= datetime.now(UTC) + timedelta(seconds=601)
    )
    assert audited == [(Entity.CONVERSATION_OWNER, Action.UPDATED, ["owner", "until"])]
    assert response.json()["event_id"] == str(event.event_id)


async def test_explicit_null_until_never_expires_and_bot_has_none(parts: Parts) -> None:
    app, _, outbox, _ = parts
    await _call(app, "PUT", f"/v1/me/conversations/{KEY}/owner", {"owner": "paused", "until": None})
    await _call(app, "PUT", f"/v1/me/conversations/{KEY}/owner", {"owner": "bot"})
    paused, bot = (
        ConversationOwnerChanged.model_validate_json(s.payload) for s in outbox.published
    )
    assert (paused.owner, paused.until) == (ConversationOwner.PAUSED, None)
    assert (bot.owner, bot.until) == (ConversationOwner.BOT, None)


async def test_tenant_wide_pause_is_keyed_by_tenant(parts: Parts) -> None:
    app, _, outbox, audited = parts
    response = await _call(app, "PUT", "/v1/me/conversations/owner", {"owner": "paused"})
    assert response.status_code == 200, response.text
    [staged] = outbox.published
    event = ConversationOwnerChanged.model_validate_json(staged.payload)
    assert staged.key == f"tenant:{USER}" and event.conversation_key is None
    assert audited[0][2] == ["owner", "until", "all_conversations"]


@pytest.mark.parametrize("key", [OTHER_KEY, "whatsapp:+1:+2"])
async def test_a_conversation_not_the_callers_is_404_and_publishes_nothing(
    parts: Parts, key: str
) -> None:
    app, _, outbox, audited = parts
    response = await _call(app, "PUT", f"/v1/me/conversations/{key}/owner", {"owner": "paused"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no such conversation"}
    assert outbox.published == [] and audited == []


@pytest.mark.parametrize(
    "body",
    [
        {"owner": "robot"},
        {"owner": "human", "until": "2020-01-01T00:00:00Z"},
        {"owner": "human", "until": "2999-01-01T00:00:00"},
        {"owner": "bot", "until": "2999-01-01T00:00:00Z"},
        {},
    ],
)
async def test_invalid_owner_bodies_are_422(parts: Parts, body: dict[str, Any]) -> None:
    app, _, outbox, _ = parts
    response = await _call(app, "PUT", f"/v1/me/conversations/{KEY}/owner", body)
    assert response.status_code == 422, response.text
    assert outbox.published == []


# The read model, from projected events ------------------------------------------------------
def _identified(user: uuid.UUID, customer: str, at: datetime) -> bytes:
    return (
        UserIdentified(
            message_id=f"m-{uuid.uuid4()}",
            conversation_key=f"whatsapp:+14155550100:{customer}",
            channel=Channel.WHATSAPP,
            source="whatsapp",
            customer_phone=customer,
            business_phone="+14155550100",
            text="hi",
            received_at=at.isoformat(),
            user_id=user,
            identified_by=IdentifiedBy.WHATSAPP_CONFIG,
            occurred_at=at,
        )
        .model_dump_json()
        .encode()
    )


def _owner(user: uuid.UUID, key: str | None, owner: str, at: datetime, **extra: Any) -> bytes:
    return (
        ConversationOwnerChanged(
            user_id=user,
            conversation_key=key,
            owner=ConversationOwner(owner),
            changed_by=OwnerChangedBy(extra.pop("changed_by", "tenant_api")),
            occurred_at=at,
            **extra,
        )
        .model_dump_json()
        .encode()
    )


def test_identified_messages_fold_into_one_activity_per_conversation() -> None:
    user, t0 = uuid.uuid4(), datetime(2026, 12, 1, 9, tzinfo=UTC)
    events = [
        project("messages.identified.v1", _identified(user, "+33600000001", t0), None),
        project("messages.identified.v1", _identified(user, "+33600000002", t0), None),
        project(
            "messages.identified.v1",
            _identified(user, "+33600000001", t0 + timedelta(minutes=5)),
            None,
        ),
    ]
    first, second = domain.activities(events)
    assert first.conversation_key == "whatsapp:+14155550100:+33600000001"
    assert (first.message_count, first.first_message_at, first.last_message_at) == (
        2,
        t0,
        t0 + timedelta(minutes=5),
    )
    assert (first.channel, first.customer_phone) == ("whatsapp", "+33600000001")
    assert second.message_count == 1


def test_the_newest_owner_change_of_a_batch_wins_and_tenant_wide_ones_stay_apart() -> None:
    user, t0 = uuid.uuid4(), datetime(2026, 12, 1, 9, tzinfo=UTC)
    topic = CONVERSATION_OWNERS.name
    later = project(topic, _owner(user, KEY, "bot", t0 + timedelta(seconds=1)), None)
    events = [
        later,
        project(topic, _owner(user, KEY, "human", t0, changed_by="business_echo"), None),
        project(topic, _owner(user, None, "paused", t0), None),
    ]
    own, tenant_wide = sorted(domain.owner_states(events), key=lambda s: s.conversation_key or "~")
    assert (own.conversation_key, own.owner, own.changed_at) == (KEY, "bot", later.occurred_at)
    assert (tenant_wide.conversation_key, tenant_wide.owner) == (None, "paused")
    assert later.service == "config"
    echo = project(topic, _owner(user, KEY, "human", t0, changed_by="business_echo"), None)
    assert echo.service == "gateway"


def test_an_owner_change_with_its_message_reaches_that_messages_timeline() -> None:
    user = uuid.uuid4()
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    event = ConversationOwnerChanged(
        user_id=user,
        conversation_key=KEY,
        owner=ConversationOwner.HUMAN,
        until=at + timedelta(hours=12),
        changed_by=OwnerChangedBy.CUSTOMER_REQUEST,
        message_id="wamid.ask-human",
        reason="handoff phrase",
    )
    row = project(CONVERSATION_OWNERS.name, event.model_dump_json().encode(), None)
    assert (row.message_id, row.service, row.user_id) == ("wamid.ask-human", "responder", user)
    assert row.summary["owner"] == "human" and row.summary["changed_by"] == "customer_request"
    [state] = domain.owner_states([row])
    assert state.until == at + timedelta(hours=12) and state.message_id == "wamid.ask-human"


def test_turn_started_is_summarised_for_the_timeline() -> None:
    event = TurnStarted(
        message_id="m-3",
        conversation_key=KEY,
        user_id=uuid.uuid4(),
        channel=Channel.WHATSAPP,
        customer_phone="+14155550199",
        turn_message_ids=["m-1", "m-2", "m-3"],
    )
    row = project("messages.outcomes.v1", event.model_dump_json().encode(), None)
    assert row.summary == {"channel": "whatsapp", "turn_message_ids": ["m-1", "m-2", "m-3"]}


def test_an_expired_human_is_the_bot_again() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    state = domain.OwnerState(
        uuid.uuid4(), KEY, "human", now - timedelta(minutes=1), "tenant_api", None, None, None, now
    )
    current = domain.effective(state, now)
    assert current is not None and (current.owner, current.changed_by) == ("bot", "expiry")
    assert domain.effective(state, now - timedelta(hours=1)) == state
    assert domain.parse_key(KEY) == ("whatsapp", "+14155550100", "+14155550199")
    assert domain.parse_key("api:-:+1") == ("api", None, "+1")
