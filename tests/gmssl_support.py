"""gmssl as an independent SM2 cross-check (tests only: its nonce comes from ``random``)."""

from __future__ import annotations

from gmssl import sm2 as gm_sm2

from trust.crypto.sm2 import SM2PublicKey


def gmssl_sm2(public_key: SM2PublicKey, private_hex: str = "") -> gm_sm2.CryptSM2:
    """gmssl's ``CryptSM2`` for ``public_key`` (hex x||y, no 04 prefix). The key is set after
    construction because the constructor's ``lstrip("04")`` also eats leading 0/4 digits of x
    (a random key's x starts with 0x04 once in 256)."""
    crypt = gm_sm2.CryptSM2(private_key=private_hex, public_key="00")
    crypt.public_key = public_key.point[1:].hex()
    return crypt
