"""Error answers as the OpenAPI document describes them (FastAPI adds 422 by itself)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    detail: str


Responses = dict[int | str, dict[str, Any]]

AUTH: Responses = {
    401: {"model": ErrorOut, "description": "Missing, malformed, expired or unsigned token"},
    403: {"model": ErrorOut, "description": "The token's role may not use this route"},
}
BAD_BODY: Responses = {400: {"model": ErrorOut, "description": "The body is not readable JSON"}}
NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "Nothing configured yet"}}
NUMBER_TAKEN: Responses = {
    409: {"model": ErrorOut, "description": "The number is active for another account"},
    **BAD_BODY,
}
