"""Images for a vision model: re-encoded as a JPEG data URL within Groq's limit.

Pillow only computes here (bytes in, a data URL out). Groq takes a base64 image in a
request of at most 4 MB, so the base64 text stays under `MAX_BASE64` (some room is left
for the rest of the request). Re-encoding also drops EXIF (location) and odd formats.
The image goes to the model from the media service itself, never onto Kafka.
"""

from __future__ import annotations

import base64
import io

from PIL import Image, UnidentifiedImageError

from services.media.domain.resolve import MediaFailure

MAX_BASE64 = 3_900_000  # characters of base64 (≈ 2.9 MB of JPEG)
MAX_SIDE = 1568  # what vision models downscale to anyway
MAX_PIXELS = 40_000_000  # a decompression bomb is refused, not decoded
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def to_data_url(content: bytes, max_base64: int = MAX_BASE64) -> str:
    try:
        with Image.open(io.BytesIO(content)) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise MediaFailure("unreadable_image") from None
    side, quality = MAX_SIDE, 85
    while True:
        frame = image.copy()
        frame.thumbnail((side, side))
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=quality, optimize=True)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        if len(encoded) <= max_base64:
            return f"data:image/jpeg;base64,{encoded}"
        if quality > 60:
            quality -= 10
        elif side > 256:
            side = int(side * 0.75)
        else:
            raise MediaFailure("too_large")
