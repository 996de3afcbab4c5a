"""SM4 (GB/T 32907-2016) authenticated encryption for data at rest: SM4-GCM (RFC 8998 §3.1).

Blob layout: ``version(1) = 0x01 || nonce(12) || ciphertext || tag(16)``. Associated data binds
the blob to its context (e.g. the key id and usage of a wrapped private key).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from trust.errors import IntegrityFailure, InvalidInput

__all__ = ["sm4_gcm_decrypt", "sm4_gcm_encrypt"]

_VERSION = b"\x01"
_NONCE = 12
_TAG = 16


def _check_key(key: bytes) -> None:
    if len(key) != 16:
        raise InvalidInput("SM4 key must be 16 bytes", code="crypto.bad_key_length")


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, *, aad: bytes = b"") -> bytes:
    _check_key(key)
    nonce = os.urandom(_NONCE)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(plaintext) + enc.finalize()
    return _VERSION + nonce + ct + enc.tag


def sm4_gcm_decrypt(key: bytes, blob: bytes, *, aad: bytes = b"") -> bytes:
    """Decrypt and authenticate; a wrong key, wrong AAD or any changed byte raises
    ``IntegrityFailure`` (never returns unauthenticated plaintext)."""
    _check_key(key)
    if len(blob) < 1 + _NONCE + _TAG or blob[:1] != _VERSION:
        raise IntegrityFailure("encrypted blob is malformed", code="crypto.bad_ciphertext")
    nonce, ct, tag = blob[1 : 1 + _NONCE], blob[1 + _NONCE : -_TAG], blob[-_TAG:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(ct) + dec.finalize()
    except InvalidTag:
        raise IntegrityFailure(
            "decryption failed: wrong key or altered data", code="crypto.decrypt_failed"
        ) from None
