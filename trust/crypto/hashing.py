"""SM3 (GB/T 32905-2016), SHA-256 and HMAC-SM3, through pyca/cryptography (OpenSSL).

hashlib is the fallback when the installed cryptography lacks SM3.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac

__all__ = ["SM3", "Hasher", "hmac_sm3", "sha256", "sm3", "sm3_hex"]


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...
    def digest(self) -> bytes: ...


def _has_cryptography_sm3() -> bool:
    try:
        hashes.Hash(hashes.SM3())
    except Exception:  # pragma: no cover - depends on the OpenSSL build
        return False
    return True


_CRYPTOGRAPHY_SM3 = _has_cryptography_sm3()


class SM3:
    """Streaming SM3. ``digest()`` may be called once; ``copy()`` forks the state."""

    __slots__ = ("_h",)
    digest_size = 32
    block_size = 64
    name = "sm3"

    def __init__(self, data: bytes = b"") -> None:
        self._h: hashes.Hash | hashlib._Hash = (
            hashes.Hash(hashes.SM3()) if _CRYPTOGRAPHY_SM3 else hashlib.new("sm3")
        )
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def copy(self) -> SM3:
        twin = SM3.__new__(SM3)
        twin._h = self._h.copy()
        return twin

    def digest(self) -> bytes:
        h = self._h
        return h.finalize() if isinstance(h, hashes.Hash) else h.digest()

    def hexdigest(self) -> str:
        return self.digest().hex()


def sm3(data: bytes) -> bytes:
    return SM3(data).digest()


def sm3_hex(data: bytes) -> str:
    return sm3(data).hex()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104 / GB/T 15852.2) with SM3."""
    if _CRYPTOGRAPHY_SM3:
        h = c_hmac.HMAC(key, hashes.SM3())
        h.update(data)
        return h.finalize()
    return _hmac.new(key, data, "sm3").digest()  # pragma: no cover
