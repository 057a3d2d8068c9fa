"""An in-memory `GroqClient` for handler tests: it records every call and answers through
`answer(call)`, which a test's fake writes (raise a `GroqFailure` to fail the call)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.responder.adapters.groq_client import Completion


@dataclass(frozen=True)
class GroqCall:
    api_key: str
    model: str
    messages: list[Mapping[str, str]]
    response_format: Mapping[str, Any] | None


class InMemoryGroq:
    """Subclasses say what a call gets by overriding `answer`."""

    def __init__(self) -> None:
        self.received: list[GroqCall] = []

    async def complete(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        temperature: float,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        call = GroqCall(api_key, model, list(messages), response_format)
        self.received.append(call)
        return self.answer(call)

    def answer(self, call: GroqCall) -> Completion:
        raise NotImplementedError
