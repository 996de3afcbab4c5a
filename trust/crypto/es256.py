"""ES256 verification and public JWKs for JOSE (RFC 7518 §3.4, §6.2.1; RFC 7515).

ECDSA P-256 with SHA-256 through pyca/cryptography. JWS carries the signature as raw r||s
(64 bytes), not DER.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature as _PycaInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from trust.crypto.sm2 import REASON_MALFORMED, REASON_MISMATCH, InvalidSignature
from trust.errors import InvalidInput

__all__ = ["es256_verify", "p256_public_jwk"]

_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _load_p256(public_key_der: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_der_public_key(public_key_der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidInput(
            "not a SubjectPublicKeyInfo public key", code="crypto.bad_public_key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput("public key is not ECDSA P-256", code="crypto.bad_public_key")
    return key


def es256_verify(public_key_der: bytes, data: bytes, signature: bytes) -> None:
    """Verify a JWS ES256 signature (raw r||s, RFC 7518 §3.4) over ``data``; raises
    ``InvalidSignature`` when it does not verify."""
    key = _load_p256(public_key_der)
    if len(signature) != 64:  # RFC 7518 §3.4: "MUST be a 64-octet sequence"
        raise InvalidSignature(REASON_MALFORMED)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _P256_N and 0 < s < _P256_N):  # FIPS 186-5 §6.4.2 step 1
        raise InvalidSignature(REASON_MALFORMED)
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except _PycaInvalidSignature:
        raise InvalidSignature(REASON_MISMATCH) from None


def _b64url(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


def p256_public_jwk(public_key_der: bytes) -> dict[str, str]:
    """The public JWK (RFC 7518 §6.2.1) of a P-256 SubjectPublicKeyInfo: kty, crv, x, y."""
    numbers = _load_p256(public_key_der).public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": _b64url(numbers.x), "y": _b64url(numbers.y)}
