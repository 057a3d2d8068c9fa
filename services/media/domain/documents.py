"""Documents read as text: PDF (pypdf) and text/plain, cut at the tenant's limit."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from services.media.domain.resolve import MediaFailure

READABLE = {"application/pdf", "text/plain"}
MAX_PAGES = 50  # a long PDF is read up to here; the text limit usually stops earlier


def base_mime(mime_type: str | None) -> str:
    return (mime_type or "").split(";", 1)[0].strip().lower()


def readable(mime_type: str | None) -> bool:
    return base_mime(mime_type) in READABLE


def document_text(content: bytes, mime_type: str | None, limit: int) -> str:
    if base_mime(mime_type) == "text/plain":
        text = content[: limit * 4].decode("utf-8", errors="replace")
    else:
        try:
            reader = PdfReader(io.BytesIO(content))
            parts: list[str] = []
            for page in reader.pages[:MAX_PAGES]:
                parts.append(page.extract_text() or "")
                if sum(map(len, parts)) >= limit:
                    break
        except (PyPdfError, ValueError, KeyError, TypeError):
            raise MediaFailure("unreadable_document") from None
        text = "\n".join(parts)
    text = text.replace("\x00", "").strip()
    if not text:
        raise MediaFailure("empty_document")
    return text[:limit]
