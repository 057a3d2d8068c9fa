"""Supabase-style bearer JWTs: HS256 with AUTH_JWT_SECRET; `sub` is the user, `role` the power."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.config.api.deps import Deps

ADMIN_ROLE = "service_role"
USER_ROLE = "authenticated"

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID | None
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def decode_token(token: str, secret: str, audience: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "role"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise _unauthorized("invalid token") from exc
    role = claims.get("role")
    # Supabase puts aud=authenticated in every user token; its service_role keys carry none.
    # So: a user token must name our audience, and any token that names one must name ours.
    if ("aud" in claims or role == USER_ROLE) and not _audience_ok(claims.get("aud"), audience):
        raise _unauthorized("invalid token audience")
    if role == ADMIN_ROLE:
        return Principal(user_id=_optional_uuid(claims.get("sub")), role=role)
    if role != USER_ROLE:
        raise _unauthorized("unknown role")
    user_id = _optional_uuid(claims.get("sub"))
    if user_id is None:
        raise _unauthorized("token has no user (sub)")
    return Principal(user_id=user_id, role=role)


def _audience_ok(claim: object, audience: str) -> bool:
    audiences = claim if isinstance(claim, list) else [claim]
    return audience in audiences


def _optional_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def current_principal(
    deps: Deps, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token")
    settings = deps.settings
    return decode_token(
        credentials.credentials,
        settings.auth_jwt_secret.get_secret_value(),
        settings.auth_jwt_audience,
    )


async def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> uuid.UUID:
    if principal.user_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this route needs a user token")
    return principal.user_id


async def current_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="administrator role required")
    return principal


UserId = Annotated[uuid.UUID, Depends(current_user)]
Admin = Annotated[Principal, Depends(current_admin)]
