"""The master key of the software keystore, and the wrapping of private keys under it.

The master key is 32 bytes, written as 64 hex characters, and comes either from
``settings.master_key`` (a secret store injects it, e.g. ``TRUST_MASTER_KEY``) or from
``settings.resolved_master_key_file``. The file must be a regular file readable by its owner only
(mode 0600, no group/other bits) - the rule ``ssh`` applies to private keys; anything else is
refused with a message naming the file and the fix. ``create_master_key_file`` (used by
``trustctl init`` for development) writes a fresh CSPRNG key with ``O_CREAT | O_EXCL`` and never
overwrites an existing file.

The master key is never used directly. Two values are derived from it with HMAC-SM3
(GB/T 15852.2) under distinct labels (key separation):

* the SM4 key-encryption key (first 16 bytes of ``HMAC-SM3(mk, "…/kek/v1")``), used with
  SM4-GCM (GB/T 32907, RFC 8998) to wrap PKCS#8 private keys; associated data binds each blob
  to its key record;
* a key-check value (``HMAC-SM3(mk, "…/check/v1")``), stored once per database in
  ``keystore_meta`` so that a different master key is refused before anything is written.

Python cannot reliably erase ``bytes`` from memory; the master key lives as long as its
``MasterKey`` object. ``repr``/``str`` never show it.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Final

from trust.config import Settings
from trust.crypto import hmac_sm3, sm4_gcm_decrypt, sm4_gcm_encrypt
from trust.errors import Conflict, IntegrityFailure, Misconfigured

__all__ = ["MASTER_KEY_BYTES", "MasterKey", "create_master_key_file"]

MASTER_KEY_BYTES: Final = 32
_KEK_LABEL: Final = b"ywtb-trust/keys/kek/v1"
_CHECK_LABEL: Final = b"ywtb-trust/keys/check/v1"
#: Values printed in documentation and tests; refused in production.
_PLACEHOLDERS: Final = frozenset(
    {bytes(MASTER_KEY_BYTES), bytes.fromhex("00112233445566778899aabbccddeeff" * 2)}
)
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


class MasterKey:
    """32 secret bytes; derives the key-encryption key and the check value."""

    __slots__ = ("_check", "_kek", "_secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != MASTER_KEY_BYTES:
            raise Misconfigured(
                f"master key must be {MASTER_KEY_BYTES} bytes", code="keys.master_key_invalid"
            )
        self._secret = bytes(secret)
        self._kek = hmac_sm3(self._secret, _KEK_LABEL)[:16]
        self._check = hmac_sm3(self._secret, _CHECK_LABEL)

    @classmethod
    def from_hex(cls, text: str, *, source: str) -> MasterKey:
        """Parse 64 hex characters (surrounding whitespace ignored). ``source`` names where the
        text came from, for the error message; the text itself is never echoed."""
        value = text.strip()
        if len(value) != 2 * MASTER_KEY_BYTES or not set(value) <= _HEX_DIGITS:
            raise Misconfigured(
                f"master key from {source} must be exactly {2 * MASTER_KEY_BYTES} hex characters",
                code="keys.master_key_invalid",
            )
        return cls(bytes.fromhex(value))

    @classmethod
    def from_file(cls, path: Path) -> MasterKey:
        """Read a master key file; refuse anything but a regular file with mode 0600 or 0400."""
        return cls.from_hex(_read_private_file(path), source=f"file {path}")

    @classmethod
    def from_settings(cls, settings: Settings) -> MasterKey:
        """``settings.master_key`` if set, else ``settings.resolved_master_key_file``."""
        if settings.master_key is not None:
            key = cls.from_hex(settings.master_key.get_secret_value(), source="settings")
        else:
            path = settings.resolved_master_key_file
            if not path.exists():
                raise Misconfigured(
                    f"no master key: set TRUST_MASTER_KEY or create {path} "
                    "(`trustctl init` creates one for development)",
                    code="keys.master_key_missing",
                )
            key = cls.from_file(path)
        if settings.environment == "production" and key._secret in _PLACEHOLDERS:
            raise Misconfigured(
                "the master key is a well-known placeholder; production needs a random key",
                code="keys.master_key_placeholder",
            )
        return key

    @property
    def check_value(self) -> bytes:
        """Key-check value stored in ``keystore_meta`` (a MAC, reveals nothing of the key)."""
        return self._check

    def wrap(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """SM4-GCM encrypt ``plaintext`` under the key-encryption key, bound to ``aad``."""
        return sm4_gcm_encrypt(self._kek, plaintext, aad=aad)

    def unwrap(self, blob: bytes, *, aad: bytes) -> bytes:
        """Decrypt and authenticate; a wrong master key or altered blob/record raises
        ``IntegrityFailure`` (``keys.unwrap_failed``)."""
        try:
            return sm4_gcm_decrypt(self._kek, blob, aad=aad)
        except IntegrityFailure:
            raise IntegrityFailure(
                "a wrapped private key cannot be opened: wrong master key or altered key record",
                code="keys.unwrap_failed",
            ) from None

    def __repr__(self) -> str:
        return "<MasterKey (hidden)>"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("MasterKey cannot be pickled")


def _read_private_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise Misconfigured(
            f"cannot open master key file {path}: {exc.strerror}", code="keys.master_key_missing"
        ) from None
    try:
        info = os.fstat(fd)  # of the opened file itself: no race with a swapped path
        if not stat.S_ISREG(info.st_mode):
            raise Misconfigured(
                f"master key file {path} is not a regular file", code="keys.master_key_file_mode"
            )
        if info.st_mode & 0o077:
            raise Misconfigured(
                f"master key file {path} has mode {stat.S_IMODE(info.st_mode):04o}; it must be "
                f"readable by its owner only: run `chmod 600 {path}`",
                code="keys.master_key_file_mode",
            )
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise Misconfigured(
            f"master key file {path} must hold {2 * MASTER_KEY_BYTES} hex characters",
            code="keys.master_key_invalid",
        ) from None


def create_master_key_file(path: Path) -> Path:
    """Write a new random master key to ``path`` with mode 0600 and return the path.

    Refuses (``Conflict``, ``keys.master_key_exists``) if anything exists at ``path``: an existing
    master key is never overwritten, because every wrapped key depends on it.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise Conflict(
            f"master key file {path} already exists; refusing to overwrite it",
            code="keys.master_key_exists",
        ) from None
    try:
        os.fchmod(fd, 0o600)  # a restrictive umask may have removed the owner's write bit
        os.write(fd, (secrets.token_bytes(MASTER_KEY_BYTES).hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path
