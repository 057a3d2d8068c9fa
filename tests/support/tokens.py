"""Supabase-style JWTs for tests."""

from __future__ import annotations

import time
import uuid

import jwt


def user_token(secret: str, user_id: uuid.UUID, ttl_s: int = 3600) -> str:
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def admin_token(secret: str, ttl_s: int = 3600) -> str:
    claims = {"role": "service_role", "exp": int(time.time()) + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")
