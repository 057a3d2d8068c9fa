"""Reading a request body with a size cap, without buffering more than the cap."""

from __future__ import annotations

from fastapi import Request


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None when it is (or declares itself) larger than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
