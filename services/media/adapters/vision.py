"""What an image shows, from the tenant's vision model through the official groq SDK.

One chat completion with the instruction and the caption as a text part and the image as
an `image_url` part (a base64 data URL, ≤ 4 MB as Groq takes it). The image never leaves
this call: the event carries the model's words only. Same retry policy as transcription
(max_retries=0 here, RetryLater in the consumer).
"""

from __future__ import annotations

from services.media.adapters.groq_client import GroqClients
from services.media.adapters.groq_errors import groq_failures
from services.media.domain.resolve import MediaFailure

MAX_TOKENS = 400

LANGUAGE_NAMES = {
    "fr": "French",
    "en": "English",
    "es": "Spanish",
    "de": "German",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "ar": "Arabic",
}


def instruction(caption: str | None, language: str) -> str:
    """Single user turn (some vision models take no system message with an image)."""
    name = LANGUAGE_NAMES.get(language[:2].lower(), language)
    lines = [
        "A customer sent this image to a business on WhatsApp. Describe what it shows, "
        "factually and briefly, and copy out any text visible in it (prices, references, "
        "error messages). Do not answer the customer; only say what you see.",
        (
            f'The customer wrote with it: "{caption}". Write in the language of that text.'
            if caption
            else f"Write in {name}."
        ),
    ]
    return "\n".join(lines)


class Vision:
    def __init__(self, clients: GroqClients) -> None:
        self._clients = clients

    async def describe(
        self, *, api_key: str, model: str, data_url: str, caption: str | None, language: str
    ) -> str:
        client = self._clients.for_key(api_key)
        with groq_failures("vision"):
            completion = await client.chat.completions.create(
                model=model,
                temperature=0.2,
                max_completion_tokens=MAX_TOKENS,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": instruction(caption, language)},
                            {"type": "image_url", "image_url": {"url": data_url}},
                        ],
                    }
                ],
            )
        text = (completion.choices[0].message.content or "").strip() if completion.choices else ""
        if not text:
            raise MediaFailure("empty_description")
        return text
