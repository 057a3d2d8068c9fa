"""A flood of identical library log lines becomes one line per period, with a count."""

from __future__ import annotations

import logging

from shared.logging import RepeatLimiter


def _record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)


def test_repeats_are_held_back_and_counted() -> None:
    now = [0.0]
    limiter = RepeatLimiter(prefix="aiokafka", every_s=30, clock=lambda: now[0])
    passed = [limiter.filter(_record("aiokafka.conn", "Unable connect to %s")) for _ in range(500)]
    assert passed.count(True) == 1
    assert limiter.filter(_record("aiokafka.conn", "another message"))
    assert limiter.filter(_record("shared.consumer", "Unable connect to %s"))  # not limited
    now[0] = 31.0
    later = _record("aiokafka.conn", "Unable connect to %s")
    assert limiter.filter(later)
    assert "499 like it" in str(later.msg)
