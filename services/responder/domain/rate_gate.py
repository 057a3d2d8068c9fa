"""Per Groq key: after a rate limit, nobody calls before its retry-after ends, and then one
call probes while the others keep waiting, so a limited key is not hit again by every
conversation waiting on it (each retry would also have cost a statement and a slot turn).
Pure: the caller passes the time (monotonic seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Closed:
    until: float  # no call before this
    hold_s: float  # how long a probe keeps the others waiting
    probe_until: float = 0.0


class RateGate:
    def __init__(self, min_hold_s: float = 1.0) -> None:
        self._closed: dict[str, _Closed] = {}
        self._min_hold_s = min_hold_s

    def wait_s(self, key: str, now: float) -> float | None:
        """None: call now (the gate is open, or this caller is the probe); else how long
        to wait first."""
        closed = self._closed.get(key)
        if closed is None:
            return None
        if now < closed.until:
            return closed.until - now
        if now < closed.probe_until:
            return closed.probe_until - now
        closed.probe_until = now + closed.hold_s
        return None

    def limited(self, key: str, now: float, after_s: float) -> None:
        hold = max(after_s, self._min_hold_s)
        self._closed[key] = _Closed(until=now + after_s, hold_s=hold)

    def opened(self, key: str) -> None:
        """The key answered (or failed for another reason than its rate)."""
        self._closed.pop(key, None)
