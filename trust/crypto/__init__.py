"""The one facade for national cryptography (SM2, SM3, SM4) and ES256.

Nothing else in the project imports a cryptographic backend. SM3/SM4/HMAC go through
pyca/cryptography; SM2 goes through one small backend interface with two implementations
(system OpenSSL 3 libcrypto via ctypes, or tongsuopy), chosen at start-up by ``configure``.
Private-key operations live in ``trust.crypto.private_keys`` and are imported only by ``keys``.
"""

from trust.crypto.backend import BackendInfo, active, available_backends, configure
from trust.crypto.compare import constant_time_equal
from trust.crypto.es256 import es256_verify, p256_public_jwk
from trust.crypto.hashing import SM3, hmac_sm3, sha256, sm3, sm3_hex
from trust.crypto.sm2 import (
    DEFAULT_USER_ID,
    REASON_MALFORMED,
    REASON_MISMATCH,
    InvalidSignature,
    SignatureEncoding,
    SM2PublicKey,
    decode_signature,
    encode_signature_der,
    sm2_digest,
    sm2_verify,
    sm2_z,
)
from trust.crypto.sm4 import sm4_gcm_decrypt, sm4_gcm_encrypt

__all__ = [
    "DEFAULT_USER_ID",
    "REASON_MALFORMED",
    "REASON_MISMATCH",
    "SM3",
    "BackendInfo",
    "InvalidSignature",
    "SM2PublicKey",
    "SignatureEncoding",
    "active",
    "available_backends",
    "configure",
    "constant_time_equal",
    "decode_signature",
    "encode_signature_der",
    "es256_verify",
    "hmac_sm3",
    "p256_public_jwk",
    "sha256",
    "sm2_digest",
    "sm2_verify",
    "sm2_z",
    "sm3",
    "sm3_hex",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
]
