"""Identifier generation. Identifiers are unguessable (CSPRNG) and URL-safe."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import NewType

__all__ = ["KeyId", "new_id", "new_ordered_id", "new_secret"]

KeyId = NewType("KeyId", str)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case, no i l o u
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)  # index: 10 bits, high bits first
_SHIFTS = tuple(range(110, -1, -10))  # 120 bits as 12 pairs, most significant first


def new_id(prefix: str, *, nbytes: int = 15) -> str:
    """``prefix_`` then ``nbytes`` of CSPRNG output in Crockford base32 (120 bits by default)."""
    n = int.from_bytes(secrets.token_bytes(nbytes), "big")
    if nbytes == 15:  # the default (request ids, rows …): two characters at a time
        return f"{prefix}_{_base32_120(n)}"
    chars = []
    for _ in range((nbytes * 8 + 4) // 5):
        chars.append(_ALPHABET[n & 31])
        n >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def new_ordered_id(prefix: str, at: datetime) -> str:
    """Like ``new_id`` (same alphabet and length), but the first 10 characters are the
    milliseconds of ``at`` since the Unix epoch and only the last 14 are random (70 bits,
    still unguessable): ids made later sort later. For append-mostly tables whose rows are
    written in bulk (verification records …): a random primary key puts each new row on a
    different index page, which every commit then writes out."""
    millis = int(at.timestamp() * 1000)
    if not 0 <= millis < 1 << 50:
        raise ValueError("time outside the range of ordered ids")
    n = millis << 70 | int.from_bytes(secrets.token_bytes(9), "big") >> 2
    return f"{prefix}_{_base32_120(n)}"


def _base32_120(n: int) -> str:
    """24 Crockford base32 characters of a 120-bit ``n``, ten bits (two characters) at a time:
    ~3x the speed of a 5-bit loop, for ids made per request and in bulk."""
    return "".join([_PAIRS[n >> shift & 1023] for shift in _SHIFTS])


def new_secret(nbytes: int = 32) -> str:
    """A bearer secret: URL-safe base64 of ``nbytes`` CSPRNG bytes."""
    return secrets.token_urlsafe(nbytes)
