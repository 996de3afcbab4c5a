"""Object identifiers and the allow-lists of algorithms this service accepts (eseal spec §4)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALLOWED_DIGEST_OIDS",
    "OID_EC_PUBLIC_KEY",
    "OID_GBT35275_DATA",
    "OID_GBT35275_SIGNED_DATA",
    "OID_SHA256",
    "OID_SM2_CURVE",
    "OID_SM2_SIGN",
    "OID_SM2_WITH_SM3",
    "OID_SM3",
    "OID_SM4",
]

OID_EC_PUBLIC_KEY: Final = "1.2.840.10045.2.1"
OID_SM2_CURVE: Final = "1.2.156.10197.1.301"  # named curve in SubjectPublicKeyInfo
OID_SM2_SIGN: Final = "1.2.156.10197.1.301.1"  # SM2-1, seen as digestEncryptionAlgorithm
OID_SM3: Final = "1.2.156.10197.1.401"
OID_SM2_WITH_SM3: Final = "1.2.156.10197.1.501"
OID_SM4: Final = "1.2.156.10197.1.104"
OID_SHA256: Final = "2.16.840.1.101.3.4.2.1"
OID_GBT35275_DATA: Final = "1.2.156.10197.6.1.4.2.1"
OID_GBT35275_SIGNED_DATA: Final = "1.2.156.10197.6.1.4.2.2"

#: Digest algorithms accepted anywhere a digest OID is read; everything else is refused.
ALLOWED_DIGEST_OIDS: Final = frozenset({OID_SM3, OID_SHA256})
