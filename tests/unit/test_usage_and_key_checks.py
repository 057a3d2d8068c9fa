"""Issue 16, config side, pure: what a key check means, the pool's change event, and usage
per tenant/key/model/day from projected events (a re-announced reply counts once)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.config.domain.key_pool import CheckOutcome, KeyCheck, pool_changed
from services.config.domain.usage import AUDIO_MODEL, UsageEvent, aggregate, top_tenants
from shared.contracts.config_events import KeyStatus, config_event_key

A, B = uuid.uuid4(), uuid.uuid4()
DAY = datetime(2026, 12, 3, 9, tzinfo=UTC)


def _event(
    event_type: str, user: uuid.UUID, at: datetime, message: str = "m", **summary: object
) -> UsageEvent:
    return UsageEvent(event_type, user, message, 1, at, dict(summary))


def test_a_key_check_decides_the_status_and_which_models_are_missing() -> None:
    accepted = KeyCheck(CheckOutcome.ACCEPTED, ("a", "b"))
    assert accepted.key_status() is KeyStatus.ACTIVE
    assert accepted.lacks("c") and not accepted.lacks("a")
    refused = KeyCheck(CheckOutcome.REFUSED, status=401)
    assert refused.key_status() is KeyStatus.INVALID and "401" in refused.detail
    offline = KeyCheck(CheckOutcome.UNREACHABLE, status=503)
    assert offline.key_status() is KeyStatus.UNCHECKED
    assert not offline.lacks("anything")  # not checked: nothing is known to be missing


def test_the_pool_event_carries_ciphertext_and_settings_and_is_keyed_per_tenant() -> None:
    key_id = uuid.uuid4()
    row = {
        "key_id": key_id,
        "label": "main",
        "organization": "acme",
        "priority": 3,
        "enabled": True,
        "status": "active",
        "api_key_encrypted": "gAAAA-cipher",
    }
    settings = {"fallback_model": "f", "cheaper_model": "c", "unavailable_models": ["x"]}
    event = pool_changed(A, [row], settings)
    assert [k.key_id for k in event.keys] == [str(key_id)]
    assert (event.fallback_model, event.cheaper_model, event.unavailable_models) == (
        "f",
        "c",
        ["x"],
    )
    assert config_event_key(event) == f"GroqKeyPoolChanged:{A}"
    assert pool_changed(A, [], None).keys == []


def test_usage_counts_answers_tokens_failures_audio_and_the_last_rate_limits() -> None:
    later = DAY + timedelta(minutes=5)
    events = [
        _event(
            "ResponseGenerated",
            A,
            DAY,
            "m1",
            key_id="k1",
            model="gpt",
            prompt_tokens=12,
            completion_tokens=7,
            config_source="user",
            rate_limits={"remaining_requests": 9},
        ),
        # the same reply announced again after a redelivery: not a second request
        _event(
            "ResponseGenerated",
            A,
            DAY + timedelta(seconds=1),
            "m1",
            key_id=None,
            model="gpt",
            prompt_tokens=12,
            completion_tokens=7,
            config_source="user",
        ),
        _event(
            "ResponseGenerated",
            A,
            later,
            "m2",
            key_id="k1",
            model="gpt",
            prompt_tokens=10,
            completion_tokens=5,
            config_source="user",
            rate_limits={"remaining_requests": 8},
        ),
        _event("ResponseGenerated", A, later, "m3", model="", config_source="none"),
        _event("GroqKeyFailed", A, DAY, "m2", key_id="k0", model="gpt", kind="invalid_key"),
        _event("MediaResolved", A, DAY, "m4", audio_seconds=12.5),
        _event(
            "ResponseGenerated",
            B,
            DAY + timedelta(days=1),
            "m9",
            key_id="kb",
            model="gpt",
            prompt_tokens=1,
            completion_tokens=1,
            config_source="user",
        ),
    ]
    rows = {(r.user_id, r.key_id, r.model, r.day.isoformat()): r for r in aggregate(events)}
    k1 = rows[(A, "k1", "gpt", "2026-12-03")]
    assert (k1.requests, k1.prompt_tokens, k1.completion_tokens) == (2, 22, 12)
    assert k1.rate_limits == {"remaining_requests": 8}
    assert rows[(A, "k0", "gpt", "2026-12-03")].failures == 1
    assert rows[(A, "", AUDIO_MODEL, "2026-12-03")].audio_seconds == 12.5
    assert rows[(B, "kb", "gpt", "2026-12-04")].requests == 1
    assert len(rows) == 4
    ranked = top_tenants(aggregate(events), 1)
    assert [(t.user_id, t.requests, t.tokens) for t in ranked] == [(A, 2, 34)]
