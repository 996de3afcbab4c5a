"""Private-key operations. Only ``keys`` (key custody) imports this module (import contract).

SM2 (GB/T 32918.2-2016, DER signatures per GB/T 35276-2017) runs in the backend that was active
when the key was created or loaded; the nonce k comes from that library's CSPRNG. ES256
(RFC 7518 §3.4) runs in pyca/cryptography.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from trust.crypto.backend import PrivateKeyHandle, active
from trust.crypto.sm2 import DEFAULT_USER_ID, SM2PublicKey, check_user_id
from trust.errors import InvalidInput

__all__ = [
    "P256PrivateKey",
    "SM2PrivateKey",
    "generate_p256",
    "generate_sm2",
    "load_p256_pkcs8",
    "load_sm2_pkcs8",
]


class SM2PrivateKey:
    """An opaque handle to an SM2 private key inside the active backend."""

    __slots__ = ("_handle", "_public")

    def __init__(self, handle: PrivateKeyHandle) -> None:
        """Wrap a backend handle; use ``generate_sm2`` or ``load_sm2_pkcs8`` instead."""
        self._handle = handle
        self._public = SM2PublicKey.from_der(handle.spki_der())

    def public_key(self) -> SM2PublicKey:
        return self._public

    def to_pkcs8_der(self) -> bytes:
        """Unencrypted PKCS#8; the caller (keys) encrypts it before it touches storage."""
        return self._handle.pkcs8_der()

    def sign(self, data: bytes, *, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """SM2 with SM3 over SM3(Z_A || data); CSPRNG nonce; DER SEQUENCE { r, s }."""
        check_user_id(user_id)
        return self._handle.sign(data, user_id)

    def __repr__(self) -> str:
        return "<SM2PrivateKey (private bytes hidden)>"


class P256PrivateKey:
    """ECDSA P-256 private key for ES256 (JOSE); through pyca/cryptography."""

    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        """Wrap a pyca key; use ``generate_p256`` or ``load_p256_pkcs8`` instead."""
        self._key = key

    def public_key_der(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_pkcs8_der(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign_es256(self, data: bytes) -> bytes:
        """ECDSA-SHA256; returns raw r||s (64 bytes) as JWS requires (RFC 7518 §3.4)."""
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def __repr__(self) -> str:
        return "<P256PrivateKey (private bytes hidden)>"


def generate_sm2() -> SM2PrivateKey:
    return SM2PrivateKey(active().generate_private_key())


def load_sm2_pkcs8(der: bytes) -> SM2PrivateKey:
    """From unencrypted PKCS#8 DER (RFC 5208 / RFC 5915, curve 1.2.156.10197.1.301)."""
    return SM2PrivateKey(active().load_private_key(der))


def generate_p256() -> P256PrivateKey:
    return P256PrivateKey(ec.generate_private_key(ec.SECP256R1()))


def load_p256_pkcs8(der: bytes) -> P256PrivateKey:
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidInput(
            "not an unencrypted PKCS#8 private key", code="crypto.bad_private_key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput("private key is not ECDSA P-256", code="crypto.bad_private_key")
    return P256PrivateKey(key)
