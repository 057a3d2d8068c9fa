"""What a Groq API error means for a media item: retried within the budget, or final.

Transcription and vision follow one policy: 429 (with its retry-after), 5xx and no
connection are transient (the consumer retries with RetryLater, bounded by
MEDIA_RETRY_BUDGET_S); any other status is final with `<what>_rejected_<status>`. The
SDK's exception text is never kept: it may quote the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import groq

from services.media.domain.resolve import MediaFailure, TransientFailure


@contextmanager
def groq_failures(what: str) -> Iterator[None]:
    try:
        yield
    except groq.RateLimitError as exc:
        after = exc.response.headers.get("retry-after")
        raise TransientFailure(f"{what}_rate_limited", _seconds(after)) from None
    except groq.APIStatusError as exc:
        if exc.status_code >= 500:
            raise TransientFailure(f"{what}_unavailable") from None
        raise MediaFailure(f"{what}_rejected_{exc.status_code}") from None
    except groq.APIConnectionError:
        raise TransientFailure(f"{what}_unreachable") from None


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None
