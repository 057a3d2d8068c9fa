"""A tenant's key pool through the failover (issue 16), with an in-memory Groq whose answer
depends on the key: 401 → next key at once and a fact for the config service; 429 → another
organization's key at once, the same organization's keys wait; 5xx → next key;
model_decommissioned → the fallback model, and the answer says why."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet

from services.responder.adapters.groq_client import Completion
from services.responder.domain.failures import GroqFailure
from services.responder.domain.groq_settings import GroqSettingsView, PoolMember, ResolvedGroq
from services.responder.domain.key_pool import PoolKey
from services.responder.entrypoints.key_failover import KeyFailover
from shared.contracts.config_events import (
    GroqConfigChanged,
    GroqKeyPoolChanged,
    GroqPoolKey,
    KeyStatus,
)
from shared.contracts.groq_health import GroqKeyFailed, KeyFailureKind
from shared.contracts.topics import GROQ_HEALTH
from shared.crypto import SecretBox
from shared.groq_models import DEFAULT_CHAT_MODEL
from tests.support.groq import GroqCall, InMemoryGroq
from tests.support.seams import Published

BOX = SecretBox(Fernet.generate_key().decode())
TENANT = uuid.uuid4()


class KeyedGroq(InMemoryGroq):
    """Fails per key (and per model) as told; answers otherwise."""

    def __init__(self, failures: dict[str, GroqFailure], retired: frozenset[str] = frozenset()):
        super().__init__()
        self.failures = failures
        self.retired = retired

    @property
    def calls(self) -> list[tuple[str, str]]:
        return [(call.api_key, call.model) for call in self.received]

    def answer(self, call: GroqCall) -> Completion:
        if call.api_key in self.failures:
            raise self.failures[call.api_key]
        if call.model in self.retired:
            raise GroqFailure(400, code="model_decommissioned")
        return Completion(f"[{call.model}] ok", 12, 7)


def _resolved(
    *keys: tuple[str, int, str | None],
    model: str = "tenant-model",
    fallback: str | None = None,
    status: dict[str, KeyStatus] | None = None,
) -> ResolvedGroq:
    view = GroqSettingsView()
    view.apply(
        GroqConfigChanged(
            user_id=TENANT, api_key_encrypted=BOX.encrypt("k-single"), model=model, temperature=0.2
        )
    )
    view.apply(
        GroqKeyPoolChanged(
            user_id=TENANT,
            keys=[
                GroqPoolKey(
                    key_id=name,
                    priority=priority,
                    organization=org,
                    status=(status or {}).get(name, KeyStatus.ACTIVE),
                    api_key_encrypted=BOX.encrypt(name),
                )
                for name, priority, org in keys
            ],
            fallback_model=fallback,
        )
    )
    resolved = view.resolve(TENANT)
    assert resolved is not None
    return resolved


async def _ask(failover: KeyFailover, resolved: ResolvedGroq) -> tuple[str | None, str, str | None]:
    answer = await failover.complete(
        resolved=resolved,
        user_id=TENANT,
        message_id="m1",
        base_url="http://groq.test",
        messages=[{"role": "user", "content": "hi"}],
    )
    return answer.key_id, answer.model, answer.fallback_reason


def _facts(published: Published) -> list[GroqKeyFailed]:
    facts = [out.event for out in published.events if out.topic == GROQ_HEALTH]
    assert all(isinstance(fact, GroqKeyFailed) for fact in facts)
    return facts  # type: ignore[return-value]


async def test_a_refused_key_is_reported_and_the_next_key_answers_at_once() -> None:
    groq, published = KeyedGroq({"k1": GroqFailure(401)}), Published()
    failover = KeyFailover(groq, BOX, published)
    resolved = _resolved(("k1", 0, None), ("k2", 1, None))
    assert await _ask(failover, resolved) == ("k2", "tenant-model", None)
    [fact] = _facts(published)
    assert (fact.key_id, fact.kind, fact.user_id) == ("k1", KeyFailureKind.INVALID_KEY, TENANT)
    # the next message does not try the refused key again
    await _ask(failover, resolved)
    assert [key for key, _ in groq.calls] == ["k1", "k2", "k2"]


async def test_keys_already_invalid_or_disabled_are_never_tried() -> None:
    groq = KeyedGroq({})
    failover = KeyFailover(groq, BOX, Published())
    resolved = _resolved(("k1", 0, None), ("k2", 1, None), status={"k1": KeyStatus.INVALID})
    assert (await _ask(failover, resolved))[0] == "k2"


async def test_the_single_groq_config_key_is_the_pools_last_member() -> None:
    groq = KeyedGroq({"k1": GroqFailure(403), "k2": GroqFailure(401)})
    failover = KeyFailover(groq, BOX, Published())
    assert (await _ask(failover, _resolved(("k1", 0, None), ("k2", 1, None))))[0] == "groq-config"


async def test_a_429_uses_another_organizations_key_at_once() -> None:
    groq = KeyedGroq({"k1": GroqFailure(429, retry_after_s=2)})
    published = Published()
    failover = KeyFailover(groq, BOX, published)
    resolved = _resolved(("k1", 0, "org-a"), ("k2", 1, "org-b"))
    assert (await _ask(failover, resolved))[0] == "k2"
    assert [fact.kind for fact in _facts(published)] == [KeyFailureKind.RATE_LIMITED]


async def test_a_429_with_only_the_same_organization_left_waits_instead_of_hammering() -> None:
    groq = KeyedGroq({"k1": GroqFailure(429, retry_after_s=2)})
    failover = KeyFailover(groq, BOX, Published())
    resolved = _resolved(("k1", 0, "org-a"), ("k2", 1, "org-a"))
    resolved = ResolvedGroq(  # without the single key, which is its own organization
        resolved.source, resolved.account, None, keys=resolved.keys[:2]
    )
    with pytest.raises(GroqFailure) as failure:
        await _ask(failover, resolved)
    assert failure.value.status == 429
    assert failure.value.retry_after_s is not None and 1.5 < failure.value.retry_after_s <= 2
    assert [key for key, _ in groq.calls] == ["k1"]  # k2 shares the limit: not called
    with pytest.raises(GroqFailure):  # a second message within the wait calls nobody
        await _ask(failover, resolved)
    assert len(groq.calls) == 1


async def test_an_outage_moves_to_the_next_key_and_is_retryable_when_none_is_left() -> None:
    groq = KeyedGroq({"k1": GroqFailure(503), "k2": GroqFailure(None, timed_out=True)})
    failover = KeyFailover(groq, BOX, Published())
    assert (await _ask(failover, _resolved(("k1", 0, None), ("k2", 1, None))))[0] == "groq-config"
    groq.failures["k-single"] = GroqFailure(500)
    with pytest.raises(GroqFailure) as failure:
        await _ask(failover, _resolved(("k1", 0, None), ("k2", 1, None)))
    assert failure.value.status == 500


@pytest.mark.parametrize(
    ("fallback", "expected"), [("qwen/qwen3-32b", "qwen/qwen3-32b"), (None, DEFAULT_CHAT_MODEL)]
)
async def test_a_decommissioned_model_is_replaced_by_the_fallback_and_says_why(
    fallback: str | None, expected: str
) -> None:
    groq, published = KeyedGroq({}, retired=frozenset({"tenant-model"})), Published()
    failover = KeyFailover(groq, BOX, published)
    key_id, model, reason = await _ask(failover, _resolved(("k1", 0, None), fallback=fallback))
    assert (key_id, model) == ("k1", expected)
    assert reason is not None and "tenant-model is decommissioned" in reason
    [fact] = _facts(published)
    assert (fact.kind, fact.model) == (KeyFailureKind.MODEL_DECOMMISSIONED, "tenant-model")


async def test_a_model_the_pool_lists_unavailable_goes_straight_to_the_fallback() -> None:
    groq = KeyedGroq({})
    failover = KeyFailover(groq, BOX, Published())
    resolved = _resolved(("k1", 0, None), fallback="qwen/qwen3-32b")
    resolved = ResolvedGroq(
        resolved.source,
        resolved.account,
        None,
        keys=resolved.keys,
        fallback_model="qwen/qwen3-32b",
        unavailable_models=frozenset({"tenant-model"}),
    )
    assert (await _ask(failover, resolved))[1] == "qwen/qwen3-32b"
    assert [model for _, model in groq.calls] == ["qwen/qwen3-32b"]


def test_the_view_orders_the_pool_and_never_lends_a_tenants_keys_to_the_fallback() -> None:
    view = GroqSettingsView()
    view.apply(
        GroqConfigChanged(user_id=None, api_key_encrypted="sys", model="fb", temperature=0.1)
    )
    pool_only = uuid.uuid4()
    view.apply(
        GroqKeyPoolChanged(
            user_id=pool_only,
            keys=[
                GroqPoolKey(key_id="late", priority=5, api_key_encrypted="c-late"),
                GroqPoolKey(key_id="early", priority=1, api_key_encrypted="c-early"),
            ],
        )
    )
    resolved = view.resolve(pool_only)
    assert resolved is not None and resolved.account.model == DEFAULT_CHAT_MODEL
    assert {m.key.key_id for m in resolved.members()} == {"late", "early"}
    # a pool emptied and no groq-config: the tenant has no config of its own
    view.apply(GroqKeyPoolChanged(user_id=pool_only, keys=[]))
    fallback = view.resolve(pool_only)
    assert fallback is not None and [m.key.key_id for m in fallback.members()] == ["system"]
    assert [m.api_key_encrypted for m in fallback.members()] == ["sys"]


async def test_two_tenants_with_the_same_organization_label_do_not_share_a_cooldown() -> None:
    groq = KeyedGroq({"k1": GroqFailure(429, retry_after_s=30)})
    failover = KeyFailover(groq, BOX, Published())
    limited = _resolved(("k1", 0, "acme"))
    limited = ResolvedGroq(limited.source, limited.account, None, keys=limited.keys[:1])
    with pytest.raises(GroqFailure):
        await _ask(failover, limited)
    other_tenant = await failover.complete(
        resolved=ResolvedGroq(
            limited.source,
            limited.account,
            None,
            keys=(PoolMember(PoolKey("k9", 0, "acme"), BOX.encrypt("k9")),),
        ),
        user_id=uuid.uuid4(),
        message_id="m2",
        base_url="http://groq.test",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert other_tenant.key_id == "k9"
