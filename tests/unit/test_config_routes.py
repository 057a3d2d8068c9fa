"""The settings routes with in-memory fakes (no database, no broker): the real dependencies,
unit of work and repository, over a fake store, audit trail and outbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.config.adapters.audit import Actor
from services.config.adapters.config_store import NumberTaken
from services.config.adapters.key_pool_store import KeyPoolStore
from services.config.adapters.outbox import ConfigOutbox
from services.config.api import errors
from services.config.api.auth import current_user
from services.config.api.deps import ApiDeps, running_deps
from services.config.domain.changes import Action, Entity
from services.config.entrypoints import api
from services.config.settings import ConfigSettings
from shared.contracts.config_events import GroqConfigChanged
from shared.contracts.topics import CONFIG_CHANGES
from shared.crypto import SecretBox
from shared.outbox import OutboxUnit, StagedEvent

USER = uuid.uuid4()
API_KEY = "gsk_route_test_key_1234"


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[Entity, uuid.UUID | None], dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.taken = False

    async def get(
        self, entity: Entity, user_id: uuid.UUID | None, *, for_update: bool = False
    ) -> Mapping[str, Any] | None:
        return self.rows.get((entity, user_id))

    async def upsert(
        self, entity: Entity, user_id: uuid.UUID | None, values: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if self.taken:
            raise NumberTaken
        row = {"user_id": user_id, **values, "updated_at": datetime.now(UTC)}
        self.rows[(entity, user_id)] = row
        return row

    async def delete(self, entity: Entity, user_id: uuid.UUID) -> bool:
        return self.rows.pop((entity, user_id), None) is not None

    async def next_version(self, key: str, owner: uuid.UUID | None) -> int:
        self.versions[key] = self.versions.get(key, 0) + 1
        return self.versions[key]


class FakeAudit:
    def __init__(self, log: list[tuple[Entity, Action, list[str]]]) -> None:
        self.log = log

    async def record(
        self, entity: Entity, action: Action, user_id: uuid.UUID | None, fields: list[str]
    ) -> None:
        self.log.append((entity, action, fields))


class FakeKeyPools:
    """The key pool store as the groq-config routes use it: the model status is the pool's
    (tested against PostgreSQL in tests/e2e/test_config_groq_patch.py)."""

    def __init__(self) -> None:
        self.models: list[str] = []

    async def model_chosen(self, repo: object, user_id: uuid.UUID, model: str) -> None:
        self.models.append(model)


class FakeOutbox:
    """`Outbox.unit` without a database: a clean exit 'publishes' what was staged."""

    def __init__(self) -> None:
        self.published: list[StagedEvent] = []
        self.roles: list[dict[str, Any]] = []

    @asynccontextmanager
    async def unit(
        self,
        publish_wait_s: float = 2.0,
        on_begin: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> AsyncIterator[OutboxUnit]:
        session = SimpleNamespace(info={"db_role": "config_worker"})
        if on_begin is not None:
            await on_begin(cast(AsyncSession, session))
        self.roles.append(dict(session.info))
        unit = OutboxUnit(cast(AsyncSession, session))
        yield unit
        unit.published = [
            StagedEvent(len(self.published) + i + 1, e.topic, e.key, e.event.model_dump_json(), {})
            for i, e in enumerate(unit.entries)
        ]
        self.published.extend(unit.published)
        unit.offset = 1000 + unit.published[-1].id if unit.published else None


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(Fernet.generate_key().decode())


@pytest.fixture
def parts(box: SecretBox) -> tuple[FastAPI, FakeStore, FakeOutbox, list[Any]]:
    store, outbox = FakeStore(), FakeOutbox()
    audited: list[Any] = []

    def audits(_: AsyncSession, __: Actor) -> FakeAudit:
        return FakeAudit(audited)

    deps = ApiDeps(
        cast(ConfigSettings, None),
        box,
        cast(Any, None),
        cast(ConfigOutbox, outbox),
        stores=lambda _: store,
        audits=audits,
        key_pools=lambda _: cast(KeyPoolStore, FakeKeyPools()),
    )
    app = FastAPI()
    app.include_router(api.router)
    errors.install(app)
    app.dependency_overrides[running_deps] = lambda: deps
    app.dependency_overrides[current_user] = lambda: USER
    return app, store, outbox, audited


async def _put(app: FastAPI, path: str, body: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.put(path, json=body)


async def test_put_groq_config_stages_one_event_with_the_next_version(
    parts: tuple[FastAPI, FakeStore, FakeOutbox, list[Any]], box: SecretBox
) -> None:
    app, store, outbox, audited = parts
    body = {"api_key": API_KEY, "model": "llama-3.1-8b-instant", "temperature": 0.2}
    store.versions[f"GroqConfigChanged:{USER}"] = 6  # the entity changed six times before

    response = await _put(app, "/v1/me/groq-config", body)

    assert response.status_code == 200, response.text
    assert API_KEY not in response.text
    assert response.json()["api_key_hint"].endswith(API_KEY[-4:])
    assert outbox.roles == [{"db_role": "config_api", "tenant": USER}]
    [staged] = outbox.published
    event = GroqConfigChanged.model_validate_json(staged.payload)
    assert (staged.topic, staged.key) == (CONFIG_CHANGES.name, f"GroqConfigChanged:{USER}")
    assert (event.user_id, event.model, event.version) == (USER, "llama-3.1-8b-instant", 7)
    assert event.api_key_encrypted and box.try_decrypt(event.api_key_encrypted) == API_KEY
    assert response.headers["x-config-version"] == str(1000 + staged.id)
    assert audited == [(Entity.GROQ, Action.CREATED, ["api_key", "model", "temperature"])]


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": f"{API_KEY}\x00"},
        {"api_key": API_KEY, "temperature": f"{API_KEY}-hot"},
        {"api_key": API_KEY, "unexpected": API_KEY},
    ],
)
async def test_a_refused_body_is_never_echoed_and_nothing_is_staged(
    parts: tuple[FastAPI, FakeStore, FakeOutbox, list[Any]], body: dict[str, object]
) -> None:
    app, store, outbox, _ = parts

    response = await _put(app, "/v1/me/groq-config", body)

    assert response.status_code == 422
    assert API_KEY not in response.text
    assert all(set(error) <= {"type", "loc", "msg"} for error in response.json()["detail"])
    assert outbox.published == [] and store.rows == {}


async def test_a_taken_number_is_409_and_publishes_nothing(
    parts: tuple[FastAPI, FakeStore, FakeOutbox, list[Any]],
) -> None:
    app, store, outbox, audited = parts
    store.taken = True
    body = {"phone_number_id": "1001", "display_phone_number": "+14155550101", "access_token": "t"}

    response = await _put(app, "/v1/me/whatsapp-config", body)

    assert response.status_code == 409
    assert outbox.published == [] and audited == []
