"""Identifier generation. Identifiers are unguessable (CSPRNG) and URL-safe."""

from __future__ import annotations

import secrets
from typing import NewType

__all__ = ["KeyId", "new_id", "new_secret"]

KeyId = NewType("KeyId", str)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case, no i l o u


def new_id(prefix: str, *, nbytes: int = 15) -> str:
    """``prefix_`` then ``nbytes`` of CSPRNG output in Crockford base32 (120 bits by default)."""
    n = int.from_bytes(secrets.token_bytes(nbytes), "big")
    chars = []
    for _ in range((nbytes * 8 + 4) // 5):
        chars.append(_ALPHABET[n & 31])
        n >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def new_secret(nbytes: int = 32) -> str:
    """A bearer secret: URL-safe base64 of ``nbytes`` CSPRNG bytes."""
    return secrets.token_urlsafe(nbytes)
