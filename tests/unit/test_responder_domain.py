"""The responder's pure rules: which tenant a key belongs to, and when a retry gives up."""

from __future__ import annotations

from services.responder.domain.failures import Failure
from services.responder.domain.rate_gate import RateGate
from services.responder.domain.retry import RetryPolicy
from services.responder.domain.tenancy import tenant_group
from shared.contracts.messages import Channel, FailureReason

UNAVAILABLE = Failure(FailureReason.PROVIDER_UNAVAILABLE, True, "Groq answered 503")


def test_the_tenant_of_each_channel_is_its_business_part() -> None:
    assert tenant_group(b"whatsapp:1234567890:+33600000001") == b"whatsapp:1234567890"
    assert tenant_group(b"twilio:+14155550101:+33600000001") == b"twilio:+14155550101"
    assert tenant_group(b"api:+14155550101:+33600000001") == b"api:+14155550101"
    # a customer id holding ':' stays in its tenant
    assert tenant_group(b"twilio:+14155550101:odd:id") == b"twilio:+14155550101"
    # no business number: the key alone (not one `api:-` group shared by every tenant)
    assert tenant_group(b"api:-:+14155550101") == b"api:-:+14155550101"
    assert tenant_group(None) is None


def test_provider_channels_wait_out_retry_after_until_the_budget_is_spent() -> None:
    policy = RetryPolicy(budget_s=3600, jitter=0)
    waiting = Failure(FailureReason.PROVIDER_UNAVAILABLE, True, "429", after_s=30)
    assert (
        policy.delay(waiting, channel=Channel.WHATSAPP, retries=40, elapsed_s=3000, spread=0) == 30
    )
    assert (
        policy.delay(waiting, channel=Channel.WHATSAPP, retries=40, elapsed_s=3580, spread=0)
        is None
    )


def test_backoff_doubles_up_to_its_cap_and_jitter_only_stretches() -> None:
    policy = RetryPolicy(first_backoff_s=0.5, max_backoff_s=60, jitter=0.2)
    waits = [
        policy.delay(UNAVAILABLE, channel=Channel.TWILIO, retries=n, elapsed_s=0, spread=0)
        for n in range(10)
    ]
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0] and waits[-1] == 60
    stretched = policy.delay(
        UNAVAILABLE, channel=Channel.TWILIO, retries=0, elapsed_s=0, spread=0.99
    )
    assert stretched is not None and 0.5 < stretched < 0.6


def test_api_messages_get_a_few_quick_retries_within_their_window() -> None:
    policy = RetryPolicy(api_retries=2, api_window_s=10, jitter=0)
    api = Channel.API
    assert policy.delay(UNAVAILABLE, channel=api, retries=1, elapsed_s=1, spread=0) == 1.0
    assert policy.delay(UNAVAILABLE, channel=api, retries=2, elapsed_s=1, spread=0) is None
    assert policy.delay(UNAVAILABLE, channel=api, retries=0, elapsed_s=9.8, spread=0) is None
    no_retries = RetryPolicy(api_retries=0)
    assert no_retries.delay(UNAVAILABLE, channel=api, retries=0, elapsed_s=0, spread=0) is None


def test_final_failures_are_never_retried() -> None:
    refused = Failure(FailureReason.PROVIDER_AUTH, False, "Groq refused the key (401)")
    assert (
        RetryPolicy().delay(refused, channel=Channel.WHATSAPP, retries=0, elapsed_s=0, spread=0)
        is None
    )


def test_a_rate_limited_key_waits_then_lets_one_probe_through() -> None:
    gate = RateGate(min_hold_s=1.0)
    assert gate.wait_s("k", now=0) is None
    gate.limited("k", now=0, after_s=2)
    assert gate.wait_s("k", now=0.5) == 1.5
    assert gate.wait_s("other-key", now=0.5) is None  # other keys are not held
    assert gate.wait_s("k", now=2.0) is None  # the probe
    assert gate.wait_s("k", now=2.1) == 2.0 - 0.1  # the others wait for its answer
    assert gate.wait_s("k", now=4.5) is None  # a probe that never answered is replaced
    gate.opened("k")
    assert gate.wait_s("k", now=4.6) is None
