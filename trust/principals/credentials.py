"""Client secrets and staff API tokens: generation, storage form, constant-time checking.

Both are 256-bit CSPRNG values (``trust.ids.new_secret``), so a fast keyed hash is the right
storage form: nothing is left to brute-force, and a slow password hash would only cost
throughput. Stored: ``HMAC-SM3(key=salt, secret)`` with a 128-bit per-row salt.

An API token is presented as ``<token id>.<secret>``; the id finds the row, the secret is checked.
"""

from __future__ import annotations

import re
import secrets as _csprng
from dataclasses import dataclass
from typing import Final

from trust.crypto import constant_time_equal, hmac_sm3

__all__ = [
    "SALT_BYTES",
    "SECRET_BYTES",
    "StoredSecret",
    "looks_like_client_id",
    "secret_matches",
    "split_token",
    "store_secret",
]

SALT_BYTES: Final = 16
SECRET_BYTES: Final = 32
_ID_RE: Final = re.compile(r"[a-z]{2,8}_[0-9a-z]{8,32}")
_SECRET_RE: Final = re.compile(r"[A-Za-z0-9_-]{20,128}")
#: Checked against when the row does not exist, so that unknown and wrong take the same time.
_DUMMY: Final = (b"\x00" * SALT_BYTES, b"\x00" * 32)


@dataclass(frozen=True, slots=True)
class StoredSecret:
    salt: bytes
    digest: bytes


def store_secret(secret: str) -> StoredSecret:
    salt = _csprng.token_bytes(SALT_BYTES)
    return StoredSecret(salt=salt, digest=hmac_sm3(salt, secret.encode("utf-8")))


def secret_matches(unverified_secret: str, stored: StoredSecret | None) -> bool:
    """Constant-time check; ``stored=None`` (no such row) costs the same and returns False."""
    salt, digest = (stored.salt, stored.digest) if stored is not None else _DUMMY
    ok = constant_time_equal(hmac_sm3(salt, unverified_secret.encode("utf-8")), digest)
    return ok and stored is not None


def looks_like_client_id(unverified: str) -> bool:
    return _ID_RE.fullmatch(unverified) is not None


def split_token(unverified_token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed ``<id>.<secret>`` token, else ``None``."""
    token_id, dot, secret = unverified_token.partition(".")
    if not dot or _ID_RE.fullmatch(token_id) is None or _SECRET_RE.fullmatch(secret) is None:
        return None
    return token_id, secret
