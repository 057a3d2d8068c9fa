"""Secrets at rest and on Kafka: Fernet ciphertext under SECRETS_KEY, with rotation.

SECRETS_KEY may hold several comma-separated keys: the first encrypts, all decrypt
(cryptography's MultiFernet), so keys rotate without downtime.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBoxError(ValueError):
    """A ciphertext that no configured key opens."""


class SecretBox:
    def __init__(self, secrets_key: str) -> None:
        keys = [part.strip() for part in secrets_key.split(",") if part.strip()]
        if not keys:
            raise ValueError("SECRETS_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise ValueError(
                "SECRETS_KEY must be 32 bytes in urlsafe base64 (Fernet.generate_key())"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("ciphertext does not open with SECRETS_KEY") from exc

    def try_decrypt(self, ciphertext: str | None) -> str | None:
        """None for a missing value or one no configured key opens (logged by the caller's
        outcome, never raised into a request)."""
        if not ciphertext:
            return None
        try:
            return self.decrypt(ciphertext)
        except SecretBoxError:
            return None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first (newest) key."""
        return self._fernet.rotate(ciphertext.encode()).decode()


def hint(secret: str) -> str:
    """What the API shows instead of a secret: its prefix family and last 4 characters."""
    prefix = secret.split("_", 1)[0] + "_" if "_" in secret[:6] else ""
    return f"{prefix}…{secret[-4:]}" if len(secret) >= 8 else "…"
