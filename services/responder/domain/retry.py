"""When a retryable failure is tried again, and when it becomes the message's final outcome.

A provider's customer (WhatsApp, Twilio) is waiting for an answer however late: such a
message is tried again for up to `budget_s`, honouring `retry-after`. A caller of the
generic API waits synchronously (the gateway's reply timeout): it gets a few quick retries
within `api_window_s`, then the retryable failure, which it may retry itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.responder.domain.failures import Failure
from shared.contracts.messages import Channel


@dataclass(frozen=True)
class RetryPolicy:
    budget_s: float = 3600.0
    max_backoff_s: float = 60.0
    first_backoff_s: float = 0.5
    api_retries: int = 2
    api_window_s: float = 10.0
    # Waits are stretched by up to this fraction so a tenant's queued retries do not all
    # wake in the same instant when its retry-after ends.
    jitter: float = 0.2

    def delay(
        self, failure: Failure, *, channel: Channel, retries: int, elapsed_s: float, spread: float
    ) -> float | None:
        """Seconds to wait before the next try, or None: give up now (a final failure).

        `retries`: tries already retried; `elapsed_s`: since the message was first handled;
        `spread`: a number in [0, 1) drawn by the caller, for the jitter."""
        if not failure.retryable:
            return None
        if failure.after_s is not None:
            wait = max(failure.after_s, 0.0)
        else:
            wait = min(self.first_backoff_s * 2**retries, self.max_backoff_s)
        wait *= 1 + self.jitter * spread
        if channel is Channel.API:
            if retries >= self.api_retries or elapsed_s + wait > self.api_window_s:
                return None
        elif elapsed_s + wait > self.budget_s:
            return None
        return wait
