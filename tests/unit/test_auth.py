from __future__ import annotations

import time
import uuid

import jwt
import pytest
from fastapi import HTTPException

from services.config.api.auth import decode_token

SECRET = "s" * 40


def _token(claims: dict[str, object], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode({"exp": int(time.time()) + 60, **claims}, secret, algorithm=alg)


def test_user_and_admin_tokens() -> None:
    user = uuid.uuid4()
    principal = decode_token(
        _token({"sub": str(user), "role": "authenticated", "aud": "authenticated"}),
        SECRET,
        "authenticated",
    )
    assert principal.user_id == user and not principal.is_admin
    assert decode_token(_token({"role": "service_role"}), SECRET, "authenticated").is_admin


@pytest.mark.parametrize(
    "token",
    [
        _token({"sub": str(uuid.uuid4()), "role": "authenticated"}, secret="x" * 40),
        _token({"sub": str(uuid.uuid4()), "role": "authenticated", "exp": int(time.time()) - 10}),
        _token({"sub": str(uuid.uuid4()), "role": "authenticated", "aud": "someone-else"}),
        _token({"sub": "not-a-uuid", "role": "authenticated"}),
        _token({"sub": str(uuid.uuid4()), "role": "anon"}),
        _token({"sub": str(uuid.uuid4())}),
        jwt.encode({"sub": str(uuid.uuid4()), "role": "service_role"}, key="", algorithm="none"),
        "garbage",
    ],
)
def test_bad_tokens_are_401(token: str) -> None:
    with pytest.raises(HTTPException) as raised:
        decode_token(token, SECRET, "authenticated")
    assert raised.value.status_code == 401
