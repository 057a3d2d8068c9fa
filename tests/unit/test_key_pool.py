from __future__ import annotations

from services.responder.domain.key_pool import PoolKey, choose, cool_down

K1 = PoolKey("k1", 1, "org-a")
K2_SAME = PoolKey("k2", 2, "org-a")
K2_OTHER = PoolKey("k2", 2, "org-b")


def test_priority_order_skips_invalid_disabled_and_failed() -> None:
    keys = [K2_OTHER, K1, PoolKey("k0", 0, invalid=True), PoolKey("k9", 0, enabled=False)]
    assert choose(keys, {}, 0.0).key == K1
    assert choose(keys, {}, 0.0, skip=frozenset({"k1"})).key == K2_OTHER
    assert choose([PoolKey("k0", 0, invalid=True)], {}, 0.0).key is None


def test_429_cools_the_whole_organization_so_we_wait() -> None:
    cooling = cool_down({}, K1, now=10.0, retry_after_s=2.0)
    choice = choose([K1, K2_SAME], cooling, now=10.0)
    assert choice.key is None and choice.wait_s == 2.0
    assert choose([K1, K2_SAME], cooling, now=12.0).key == K1


def test_429_on_one_organization_moves_to_another_at_once() -> None:
    cooling = cool_down({}, K1, now=10.0, retry_after_s=2.0)
    assert choose([K1, K2_OTHER], cooling, now=10.0).key == K2_OTHER
