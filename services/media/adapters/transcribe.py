"""Speech to text through the official groq SDK (`audio.transcriptions.create`).

The SDK never retries here (max_retries=0, see groq_client): the consumer's RetryLater
does, bounded, so one tenant's 429 never holds a worker. 413/400 are final (too large, not
audio).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.media.adapters.groq_client import GroqClients
from services.media.adapters.groq_errors import groq_failures


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    duration_s: float | None


class Transcriber:
    def __init__(self, clients: GroqClients) -> None:
        self._clients = clients

    async def transcribe(
        self,
        *,
        api_key: str,
        content: bytes,
        filename: str,
        model: str,
        language: str | None,
    ) -> Transcript:
        client = self._clients.for_key(api_key)
        options: dict[str, Any] = {"language": language} if language else {}
        with groq_failures("transcription"):
            result = await client.audio.transcriptions.create(
                file=(filename, content),
                model=model,
                response_format="verbose_json",
                **options,
            )
        extra = result.model_extra or {}
        language_ = extra.get("language")
        duration = extra.get("duration")
        return Transcript(
            text=result.text.strip(),
            language=_iso(language_) if isinstance(language_, str) else None,
            duration_s=float(duration) if isinstance(duration, int | float) else None,
        )


_NAMES = {
    "french": "fr",
    "english": "en",
    "spanish": "es",
    "german": "de",
    "arabic": "ar",
    "portuguese": "pt",
    "italian": "it",
    "dutch": "nl",
}


def _iso(language: str) -> str:
    """Whisper's verbose_json names the language ("french"); events carry ISO 639-1."""
    lowered = language.strip().lower()
    return _NAMES.get(lowered, lowered[:2])
