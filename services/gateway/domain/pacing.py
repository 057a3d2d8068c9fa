"""How fast replies may leave: per business number, and between the parts of one reply.
Pure: the caller passes the clock.

- Per number: Meta counts a number's messages (in and out) against its throughput, 80/s by
  default. `NumberGate` spaces the sends of each number at the configured rate and, after
  a 130429 (throughput exceeded), holds every reply of that number until the back-off has
  passed: the replies wait on the consumer's timer, holding no slot, and then go out.
- Per customer: a 131056 (pair rate limit) means about one message per 6 s to that
  customer, so the rest of a split reply leaves `PAIR_INTERVAL_S` apart.

The gate lives in the sender's memory on purpose: it only spaces calls. Losing it (a
restart, another replica) costs at most one more 130429, which is classified and retried;
nothing is lost or sent twice because of it.
"""

from __future__ import annotations

from shared.contracts.messages import ResponseGenerated

PAIR_INTERVAL_S = 6.0
BACK_OFF_FIRST_S = 1.0
BACK_OFF_MAX_S = 60.0


def back_off_delay(attempts: int, retry_after: float | None = None) -> float:
    """The wait after the `attempts`-th try refused for throughput (Retry-After first)."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), BACK_OFF_MAX_S)
    return float(min(BACK_OFF_FIRST_S * 2 ** min(max(attempts - 1, 0), 10), BACK_OFF_MAX_S))


class NumberGate:
    """A token bucket per business number (a second's worth of burst at `rate_per_s`),
    plus holds after a 130429. Times are seconds on a monotonic clock."""

    def __init__(self, rate_per_s: float) -> None:
        self._rate = rate_per_s
        self._buckets: dict[str, tuple[float, float]] = {}  # number -> (tokens, at)
        self._held: dict[str, float] = {}  # number -> nothing leaves before

    def wait(self, number: str, now: float) -> float:
        """How long a send of `number` must wait; 0: it may go now (a token is taken)."""
        held = self._held.get(number, 0.0)
        if held > now:
            return held - now
        if self._rate <= 0:
            return 0.0
        tokens, at = self._buckets.get(number, (self._rate, now))
        tokens = min(self._rate, tokens + (now - at) * self._rate)
        if tokens < 1.0:
            self._buckets[number] = (tokens, now)
            return (1.0 - tokens) / self._rate
        self._buckets[number] = (tokens - 1.0, now)
        return 0.0

    def hold(self, number: str, now: float, seconds: float) -> None:
        """Nothing leaves `number` for `seconds` (a 130429 back-off)."""
        self._held[number] = max(self._held.get(number, 0.0), now + seconds)

    def forget_idle(self, now: float) -> None:
        """Drop full buckets and past holds, so the maps stay as small as the busy set."""
        self._held = {n: until for n, until in self._held.items() if until > now}
        self._buckets = {
            n: (tokens, at)
            for n, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self._rate < self._rate
        }


def sending_number(outcome: ResponseGenerated) -> str:
    """The business number a reply leaves from: what Meta's throughput is counted on."""
    return outcome.phone_number_id or outcome.business_phone or "-"
