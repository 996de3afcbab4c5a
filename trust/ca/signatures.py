"""SM2 signature checks over exact bytes, as reason codes rather than exceptions (pure).

GB/T 32918.2 §7 verification with SM3 and the default user ID (GB/T 35276 §5.2, eseal spec §2.2);
both the DER and the raw r||s value encodings are accepted by the facade (eseal spec §2.4).
"""

from __future__ import annotations

from typing import Final

from trust.crypto import InvalidSignature, SM2PublicKey, sm2_verify
from trust.crypto.algorithms import OID_SM2_SIGN, OID_SM2_WITH_SM3

__all__ = [
    "CERTIFICATE_SIGNATURE_OIDS",
    "CMS_SIGNATURE_OIDS",
    "REASON_BAD_PUBLIC_KEY",
    "REASON_BAD_SIGNATURE",
    "sm2_signature_problem",
]

#: Certificate, CRL and CSR signatures: SM2-with-SM3 only (GB/T 20518-2018).
CERTIFICATE_SIGNATURE_OIDS: Final = frozenset({OID_SM2_WITH_SM3})
#: SignerInfo.signatureAlgorithm in GB/T 35275 SignedData: SM2-1 or SM2-with-SM3 (eseal spec §8).
CMS_SIGNATURE_OIDS: Final = frozenset({OID_SM2_SIGN, OID_SM2_WITH_SM3})

REASON_BAD_SIGNATURE: Final = "bad_signature"
REASON_BAD_PUBLIC_KEY: Final = "bad_public_key"


def sm2_signature_problem(
    *, public_key_der: bytes, data: bytes, signature: bytes | None
) -> str | None:
    """``None`` if ``signature`` is a valid SM2 signature over ``data`` by the key in the
    SubjectPublicKeyInfo ``public_key_der``; otherwise a reason code."""
    if signature is None:
        return REASON_BAD_SIGNATURE
    try:
        key = SM2PublicKey.from_der(public_key_der)
    except NotImplementedError:
        raise
    except Exception:  # any refusal to load the key: not an SM2 point, bad encoding
        return REASON_BAD_PUBLIC_KEY
    try:
        sm2_verify(key, data, signature)
    except InvalidSignature:
        return REASON_BAD_SIGNATURE
    return None
