from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from shared.crypto import SecretBox, SecretBoxError, hint


def test_round_trip_and_ciphertext_hides_the_secret() -> None:
    box = SecretBox(Fernet.generate_key().decode())
    token = box.encrypt("gsk_live_secret_1234")
    assert "gsk_live_secret" not in token
    assert box.decrypt(token) == "gsk_live_secret_1234"


def test_rotation_keeps_old_ciphertext_readable_and_rewrites_under_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox(old).encrypt("secret")
    rotated_box = SecretBox(f"{new},{old}")
    assert rotated_box.decrypt(token) == "secret"
    rewritten = rotated_box.rotate(token)
    assert SecretBox(new).decrypt(rewritten) == "secret"


def test_a_foreign_key_cannot_open_it() -> None:
    token = SecretBox(Fernet.generate_key().decode()).encrypt("secret")
    with pytest.raises(SecretBoxError):
        SecretBox(Fernet.generate_key().decode()).decrypt(token)


def test_a_malformed_key_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="Fernet"):
        SecretBox("not-a-key")


@pytest.mark.parametrize(
    ("secret", "expected"),
    [("gsk_abcdefgh1234", "gsk_…1234"), ("EAAtoken5678", "…5678"), ("short", "…")],
)
def test_hint_shows_only_the_family_and_last_four(secret: str, expected: str) -> None:
    assert hint(secret) == expected
