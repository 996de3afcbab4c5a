"""PKCS#10 certification requests with SM2 keys (RFC 2986; GB/T 20518-2018 §8) (pure).

The request is proof of possession: its SM2-with-SM3 signature over the exact
``certificationRequestInfo`` bytes must verify with the public key it carries (RFC 2986 §3).
Requested extensions are ignored: the CA's profile decides every extension (RFC 5280 §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import csr, x509

from trust.asn1 import register_sm_oids
from trust.ca.errors import (
    BadCertificate,
    BadCsr,
    BadPublicKey,
    CsrSignatureInvalid,
    UnsupportedAlgorithm,
)
from trust.ca.signatures import CERTIFICATE_SIGNATURE_OIDS, sm2_signature_problem
from trust.ca.x509 import pem_to_der_list, sm2_spki

__all__ = ["VerifiedCsr", "verify_csr"]


@dataclass(frozen=True, slots=True)
class VerifiedCsr:
    """A request whose signature verified with its own key."""

    #: The requested subject, as the requester wrote it (the CA still checks it).
    requested_subject: x509.Name
    #: SubjectPublicKeyInfo DER of the (SM2) key whose possession was proven.
    spki_der: bytes


def _load(unverified: bytes | str) -> csr.CertificationRequest:
    try:
        blocks = pem_to_der_list(unverified, label="CERTIFICATE REQUEST") or pem_to_der_list(
            unverified, label="NEW CERTIFICATE REQUEST"
        )
    except BadCertificate as exc:
        raise BadCsr(f"certification request cannot be read: {exc.detail}") from exc
    if len(blocks) != 1:
        raise BadCsr("expected exactly one PKCS#10 certification request (PEM or DER)")
    try:
        req = csr.CertificationRequest.load(blocks[0], strict=True)
        info = req["certification_request_info"]
        if info["version"].native != "v1":
            raise BadCsr("PKCS#10 version must be 0 (RFC 2986 §4.1)")
        info["subject"].native  # noqa: B018 - force a full parse of the name
        req["signature_algorithm"]["algorithm"].dotted  # noqa: B018
    except BadCsr:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise BadCsr(f"certification request cannot be parsed: {exc}") from exc
    return req


def verify_csr(unverified: bytes | str) -> VerifiedCsr:
    """Parse a PEM or DER request and verify its proof of possession; ``InvalidInput``-family
    errors (``ca.bad_csr``, ``ca.unsupported_algorithm``, ``ca.bad_public_key``,
    ``ca.csr_signature_invalid``) otherwise."""
    register_sm_oids()
    req = _load(unverified)
    info = req["certification_request_info"]
    algorithm = req["signature_algorithm"]["algorithm"].dotted
    if algorithm not in CERTIFICATE_SIGNATURE_OIDS:
        raise UnsupportedAlgorithm(f"request signature algorithm {algorithm} is not SM2-with-SM3")
    spki_der = info["subject_pk_info"].dump()
    try:
        canonical = sm2_spki(spki_der)
    except BadPublicKey:
        raise
    signature = req["signature"]
    raw_sig = bytes(signature.contents[1:]) if signature.contents[:1] == b"\x00" else None
    problem = sm2_signature_problem(public_key_der=spki_der, data=info.dump(), signature=raw_sig)
    if problem is not None:
        raise CsrSignatureInvalid("the request's signature does not verify with its own key")
    return VerifiedCsr(requested_subject=info["subject"], spki_der=canonical)
