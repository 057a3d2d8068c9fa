"""What a resolved media item gives the model: a text to answer, or a polite text."""

from __future__ import annotations

from shared.contracts.media import MediaOutcome, MediaResolved
from shared.contracts.messages import UserIdentified

# IMAGE: text is what the tenant's vision model saw (the media service asked it).
_READABLE = {MediaOutcome.TRANSCRIBED, MediaOutcome.DOCUMENT_TEXT, MediaOutcome.IMAGE}


def _unanswered(resolved: MediaResolved) -> UserIdentified | None:
    # A captioned item was answered from its caption when it arrived.
    message = resolved.message
    return message if message is not None and not message.text.strip() else None


def spoken_message(resolved: MediaResolved) -> UserIdentified | None:
    """The inbound message with the transcript (or document text) as its text; None when
    the item gave no text to answer or was already answered from its caption."""
    message = _unanswered(resolved)
    if message is None or resolved.outcome not in _READABLE or not resolved.text:
        return None
    return message.model_copy(update={"text": resolved.text, "media": None})


def polite_text(resolved: MediaResolved) -> str | None:
    """What to tell the customer about an item the bot cannot read (an image: the
    tenant has no vision model; an unsupported or failed item)."""
    if _unanswered(resolved) is None or spoken_message(resolved) is not None:
        return None
    return resolved.fallback_text or None
