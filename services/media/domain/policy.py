"""A tenant's media policy: transcription model and hint, vision model, document limit,
polite texts. Fed by the tenant's MediaSettingsChanged from the config feed; a tenant
without one gets the service-wide defaults."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from services.media.domain.resolve import DEFAULT_TRANSCRIPTION_MODEL
from shared.contracts.config_events import ConfigEvent, MediaSettingsChanged


@dataclass(frozen=True)
class MediaPolicy:
    transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL
    language_hint: str | None = None  # ISO 639-1 for Whisper; None: detect
    vision_model: str | None = None  # None: images get the polite text
    document_text_limit: int = 20_000  # characters
    language: str = "fr"  # of the polite texts
    texts: dict[str, str] = field(default_factory=dict)  # kind → the tenant's own text


class MediaPolicies:
    def __init__(self, default: MediaPolicy | None = None) -> None:
        self.default = default or MediaPolicy()
        self._users: dict[uuid.UUID, MediaPolicy] = {}

    def apply(self, event: ConfigEvent) -> None:
        if isinstance(event, MediaSettingsChanged):
            self.set(
                event.user_id,
                MediaPolicy(
                    transcription_model=event.transcription_model,
                    language_hint=event.language_hint,
                    vision_model=event.vision_model or None,
                    document_text_limit=event.document_text_limit,
                    language=event.text_language,
                    texts=dict(event.polite_texts),
                ),
            )

    def set(self, user_id: uuid.UUID, policy: MediaPolicy | None) -> None:
        if policy is None:
            self._users.pop(user_id, None)
        else:
            self._users[user_id] = policy

    def for_user(self, user_id: uuid.UUID | None) -> MediaPolicy:
        return self._users.get(user_id, self.default) if user_id is not None else self.default
