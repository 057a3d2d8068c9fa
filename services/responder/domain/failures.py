"""What a failed Groq call means for a message: its FailureReason, and whether trying again
later can help. Pure: the Groq adapter raises `GroqFailure` with what the provider said."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.messages import FailureReason

# 408 and 409 are what Groq's SDK itself retries besides 429 and 5xx.
_TRANSIENT_STATUSES = frozenset({408, 409, 429})


class GroqFailure(Exception):
    """A Groq call that did not answer: its HTTP status (None when no answer came back)."""

    def __init__(
        self,
        status: int | None,
        *,
        code: str | None = None,
        retry_after_s: float | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(f"Groq failed (status={status}, code={code}, timed_out={timed_out})")
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s
        self.timed_out = timed_out


@dataclass(frozen=True)
class Failure:
    reason: FailureReason
    retryable: bool
    detail: str  # operator-facing, never a secret
    after_s: float | None = None  # how long the provider asked us to wait (retry-after)


NO_CONFIG = Failure(
    FailureReason.CONFIG_REQUIRED, False, "no user Groq config and no enabled system fallback"
)
# The stored key was encrypted under a key SECRETS_KEY no longer holds: a configuration
# problem (rotation done out of order), not worth retrying.
UNDECRYPTABLE_KEY = Failure(
    FailureReason.CONFIG_REQUIRED, False, "stored Groq key cannot be decrypted with SECRETS_KEY"
)


def classify(failure: GroqFailure) -> Failure:
    status = failure.status
    if status is None:
        detail = "Groq timed out" if failure.timed_out else "Groq unreachable"
        return Failure(FailureReason.PROVIDER_UNAVAILABLE, True, detail, failure.retry_after_s)
    if status in (401, 403):
        return Failure(FailureReason.PROVIDER_AUTH, False, f"Groq refused the key ({status})")
    if status in _TRANSIENT_STATUSES or status >= 500:
        detail = f"Groq answered {status}"
        return Failure(FailureReason.PROVIDER_UNAVAILABLE, True, detail, failure.retry_after_s)
    if failure.code == "model_decommissioned":
        return Failure(FailureReason.PROVIDER_REJECTED, False, "the model is decommissioned")
    if status == 404:
        return Failure(FailureReason.PROVIDER_REJECTED, False, "unknown model or endpoint (404)")
    # 400, 413, 422...: the request itself is refused; sending it again cannot help.
    return Failure(FailureReason.PROVIDER_REJECTED, False, f"Groq refused the request ({status})")
