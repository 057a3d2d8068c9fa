"""Error answers: how the OpenAPI document describes them (FastAPI adds 422 by itself), the
exceptions the routes raise, and the 422 answer that never echoes what was refused."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def not_configured(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {what} configured")


def number_taken() -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT,
        detail="this phone number (or phone number id) is already active for another account",
    )


async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI echoes each refused input back; a refused input may be a secret (an API key
    with a stray control character): say where and why, never what."""
    refused = exc.errors() if isinstance(exc, RequestValidationError) else []
    errors = [
        {key: error[key] for key in ("type", "loc", "msg") if key in error} for error in refused
    ]
    return JSONResponse({"detail": errors}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, invalid_request)
