"""What the media service decides about one item: caps, checksums, outcomes, polite texts.

Pure: no I/O. Failures carry a short reason (too_large, sha256_mismatch, expired,
unsupported_mime, rejected, unavailable) and the customer gets the polite text of the
item's kind in the tenant's language (French by default, as the seed's texts are).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.contracts.media import MediaKind, MediaOutcome

MB = 1024 * 1024
# Meta's caps per kind; video and stickers are not understood, only sized.
CAPS = {
    MediaKind.AUDIO: 16 * MB,
    MediaKind.IMAGE: 5 * MB,
    MediaKind.STICKER: 5 * MB,
    MediaKind.DOCUMENT: 100 * MB,
    MediaKind.VIDEO: 16 * MB,
}
DEFAULT_TRANSCRIPTION_MODEL = "whisper-large-v3-turbo"
MIN_BILLED_AUDIO_S = 10.0  # Groq bills at least 10 s per request

POLITE_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "audio": "Désolé, je n'ai pas pu écouter votre message vocal. Pouvez-vous l'écrire ?",
        "image": "Merci pour l'image ! Je ne peux pas encore la voir : pouvez-vous la décrire ?",
        "document": "Merci pour le document ! Je ne peux pas encore le lire : pouvez-vous "
        "m'écrire ce qu'il contient ?",
        "video": "Merci pour la vidéo ! Je ne peux pas la regarder : pouvez-vous m'écrire "
        "votre question ?",
        "sticker": "Merci ! Pouvez-vous m'écrire votre question ?",
    },
    "en": {
        "audio": "Sorry, I could not listen to your voice note. Could you type it?",
        "image": "Thanks for the image! I cannot see images yet: could you describe it?",
        "document": "Thanks for the document! I cannot read it yet: could you type what it says?",
        "video": "Thanks for the video! I cannot watch it: could you type your question?",
        "sticker": "Thanks! Could you type your question?",
    },
    "es": {
        "audio": "Lo siento, no he podido escuchar su mensaje de voz. ¿Puede escribirlo?",
        "image": "¡Gracias por la imagen! Todavía no puedo verla: ¿puede describirla?",
        "document": "¡Gracias por el documento! Todavía no puedo leerlo: ¿puede escribirme "
        "lo que contiene?",
        "video": "¡Gracias por el vídeo! No puedo verlo: ¿puede escribirme su pregunta?",
        "sticker": "¡Gracias! ¿Puede escribirme su pregunta?",
    },
    "de": {
        "audio": "Entschuldigung, ich konnte Ihre Sprachnachricht nicht anhören. Können Sie "
        "sie schreiben?",
        "image": "Danke für das Bild! Ich kann es noch nicht sehen: Können Sie es beschreiben?",
        "document": "Danke für das Dokument! Ich kann es noch nicht lesen: Können Sie mir "
        "schreiben, was darin steht?",
        "video": "Danke für das Video! Ich kann es nicht ansehen: Können Sie mir Ihre Frage "
        "schreiben?",
        "sticker": "Danke! Können Sie mir Ihre Frage schreiben?",
    },
    "pt": {
        "audio": "Desculpe, não consegui ouvir a sua mensagem de voz. Pode escrevê-la?",
        "image": "Obrigado pela imagem! Ainda não consigo vê-la: pode descrevê-la?",
        "document": "Obrigado pelo documento! Ainda não consigo lê-lo: pode escrever-me o "
        "que contém?",
        "video": "Obrigado pelo vídeo! Não consigo vê-lo: pode escrever-me a sua pergunta?",
        "sticker": "Obrigado! Pode escrever-me a sua pergunta?",
    },
    "it": {
        "audio": "Mi dispiace, non sono riuscito ad ascoltare il suo messaggio vocale. Può "
        "scriverlo?",
        "image": "Grazie per l'immagine! Non posso ancora vederla: può descriverla?",
        "document": "Grazie per il documento! Non posso ancora leggerlo: può scrivermi cosa "
        "contiene?",
        "video": "Grazie per il video! Non posso guardarlo: può scrivermi la sua domanda?",
        "sticker": "Grazie! Può scrivermi la sua domanda?",
    },
}


class MediaFailure(Exception):
    """The item cannot be understood; `reason` is short and safe to log and publish."""

    def __init__(self, reason: str, language: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.language = language  # the customer's, when Whisper heard it before failing


class TransientFailure(Exception):
    """A 429/5xx or a timeout: worth retrying within the budget."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


def _language(code: str | None) -> str | None:
    return code.strip().lower()[:2] if code and code.strip() else None


def polite_text(
    kind: MediaKind,
    language: str | None,
    custom: dict[str, str] | None = None,
    customer_language: str | None = None,
) -> str:
    """The customer's language when Whisper heard it and a text exists in it; otherwise
    the tenant's own text, else the built-in text in the tenant's language (French by
    default, and for a language without built-in texts)."""
    tenant, customer = _language(language) or "fr", _language(customer_language)
    if customer and customer != tenant and customer in POLITE_TEXTS:
        return POLITE_TEXTS[customer][kind.value]
    if custom and custom.get(kind.value):
        return custom[kind.value]
    return POLITE_TEXTS.get(tenant, POLITE_TEXTS["fr"])[kind.value]


def check_size(kind: MediaKind, size: int | None) -> None:
    if size is not None and size > CAPS[kind]:
        raise MediaFailure("too_large")


def check_sha256(content: bytes, expected: str | None) -> None:
    if expected and hashlib.sha256(content).hexdigest() != expected.strip().lower():
        raise MediaFailure("sha256_mismatch")


def billed_audio_seconds(duration: float | None) -> float:
    return max(duration or 0.0, MIN_BILLED_AUDIO_S)


def audio_filename(mime_type: str | None) -> str:
    """WhatsApp voice notes are ogg/opus; Groq refuses `.oga`, so they go as `.ogg`."""
    mime = (mime_type or "").split(";", 1)[0].strip().lower()
    return {
        "audio/mpeg": "audio.mp3",
        "audio/mp4": "audio.m4a",
        "audio/aac": "audio.m4a",
        "audio/amr": "audio.amr",
        "audio/wav": "audio.wav",
    }.get(mime, "audio.ogg")


@dataclass(frozen=True)
class Resolution:
    outcome: MediaOutcome
    text: str | None = None
    language: str | None = None
    vision_model: str | None = None
    fallback_text: str | None = None
    reason: str | None = None
    audio_seconds: float | None = None
    size_bytes: int | None = None
