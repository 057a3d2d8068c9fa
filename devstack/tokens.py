"""Dev bearer tokens for the config API (HS256, Supabase-style claims)."""

from __future__ import annotations

import time

import jwt

# Fixed ids, so tokens printed by one `make up` stay meaningful in the next.
DEV_USER_ID = "00000000-0000-4000-8000-000000000001"
DEV_ADMIN_ID = "00000000-0000-4000-8000-0000000000ad"
TEN_YEARS = 10 * 365 * 24 * 3600


def make_token(secret: str, subject: str, role: str, lifetime: int = TEN_YEARS) -> str:
    """A JWT with ``sub``, ``role``, ``aud=authenticated``, ``iat`` and a far ``exp``."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role,
        "aud": "authenticated",
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def user_token(secret: str) -> str:
    return make_token(secret, DEV_USER_ID, "authenticated")


def admin_token(secret: str) -> str:
    return make_token(secret, DEV_ADMIN_ID, "service_role")
