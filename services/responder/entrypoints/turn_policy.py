"""How the turn poller and the answer to a turn behave (main.py fills it from settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.responder.domain.retry import RetryPolicy


@dataclass(frozen=True)
class TurnPolicy:
    system_prompt: str
    default_base_url: str
    retry: RetryPolicy
    context_messages: int = 10
    context_window: timedelta = timedelta(hours=24)
    poll_interval_s: float = 0.2
    lease_s: float = 15.0
    max_concurrent: int = 32
    # This many failed turns in a row hand the conversation to a person (0: never).
    handoff_after_failures: int = 3
