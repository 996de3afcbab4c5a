"""The time-stamp authority as a library call (``timestamp``) and as the RFC 3161 protocol
(``respond``: TimeStampReq DER in, TimeStampResp DER out).

The TSA signs with an SM2 ``Signer`` whose first certificate (``certificate_chain()[0]``) is a
time-stamping certificate: its key must be the signer's, its only extended key usage
id-kp-timeStamping, critical (RFC 3161 §2.3), and it must be valid at genTime. Otherwise the TSA
refuses to sign (``tsa.unavailable``; systemFailure in the protocol).
"""

from __future__ import annotations

import secrets
from typing import Final

from trust.ca.profiles import EKU_TIME_STAMPING
from trust.ca.x509 import CertificateFacts, parse_certificate, sm2_spki
from trust.clock import Clock
from trust.crypto import constant_time_equal
from trust.crypto.algorithms import ALLOWED_DIGEST_OIDS
from trust.signing import SignatureAlgorithm, Signer
from trust.tsa.errors import (
    TsaBadAlg,
    TsaBadDataFormat,
    TsaRefusal,
    TsaUnacceptedPolicy,
    TsaUnavailable,
)
from trust.tsa.tsp import (
    build_token,
    build_tst_info,
    granted_response,
    parse_request,
    rejection_response,
)

__all__ = ["ACCURACY_SECONDS", "respond", "system_failure_response", "timestamp"]

#: genTime is truncated to whole seconds; the accuracy states the resulting bound (RFC 3161 §2.4.2).
ACCURACY_SECONDS: Final = 1


def _tsa_certificate(signer: Signer, clock: Clock) -> tuple[CertificateFacts, list[bytes]]:
    if signer.algorithm is not SignatureAlgorithm.SM2_SM3:
        raise TsaUnavailable("the time-stamping key is not an SM2 key")
    chain = list(signer.certificate_chain())
    if not chain:
        raise TsaUnavailable("the time-stamping key has no certificate")
    cert = parse_certificate(chain[0])
    if not constant_time_equal(sm2_spki(cert.spki_der), sm2_spki(signer.public_key_der())):
        raise TsaUnavailable("the time-stamping certificate is not for the signing key")
    # RFC 3161 §2.3: "MUST contain only one instance of the extended key usage field extension
    # ... with KeyPurposeID having value id-kp-timeStamping. This extension MUST be critical."
    if cert.extended_key_usage != (EKU_TIME_STAMPING,) or not cert.eku_critical:
        raise TsaUnavailable("the certificate is not a time-stamping certificate (RFC 3161 §2.3)")
    now = clock.now()
    if not cert.not_before <= now <= cert.not_after:
        raise TsaUnavailable("the time-stamping certificate is not valid now")
    return cert, chain


def _new_serial() -> int:
    """Unique, unpredictable serial: 127 CSPRNG bits (RFC 3161 §2.4.2 requires uniqueness)."""
    while True:
        serial = secrets.randbits(127)
        if serial > 0:
            return serial


def timestamp(
    *,
    clock: Clock,
    signer: Signer,
    digest_algorithm_oid: str,
    digest: bytes,
    nonce: int | None = None,
    cert_req: bool = True,
    policy_oid: str,
) -> bytes:
    """A DER TimeStampToken over ``digest`` (SM3 or SHA-256 of the data, 32 bytes).

    ``cert_req`` puts the TSA certificate and its intermediates (not the root) into the token."""
    if digest_algorithm_oid not in ALLOWED_DIGEST_OIDS:
        raise TsaBadAlg(f"digest algorithm {digest_algorithm_oid} is not accepted")
    if len(digest) != 32:
        raise TsaBadDataFormat("digest length does not match the digest algorithm")
    cert, chain = _tsa_certificate(signer, clock)
    gen_time = clock.now().replace(microsecond=0)
    tst_info = build_tst_info(
        policy_oid=policy_oid,
        digest_algorithm_oid=digest_algorithm_oid,
        digest=digest,
        serial_number=_new_serial(),
        gen_time=gen_time,
        accuracy_seconds=ACCURACY_SECONDS,
        nonce=nonce,
        tsa_name=cert.subject_name,
    )
    included: list[bytes] = []
    if cert_req:
        included = [der for der in chain if not parse_certificate(der).self_issued] or chain[:1]
    return build_token(
        tst_info_der=tst_info,
        signer_certificate_der=chain[0],
        certificates=included,
        sign=signer.sign,
    )


def system_failure_response(text: str) -> bytes:
    """A rejection with PKIFailureInfo systemFailure, for when no TSA signer is available."""
    return rejection_response("system_failure", text)


def respond(*, clock: Clock, signer: Signer, query_der: bytes, policy_oid: str) -> bytes:
    """Answer a DER ``TimeStampReq`` with a DER ``TimeStampResp``: granted with a token, or a
    rejection carrying the RFC 3161 §2.4.2 failure bit; never an exception for bad input."""
    try:
        request = parse_request(query_der)
        # RFC 3161 §2.4.2 unacceptedPolicy: "the requested TSA policy is not supported".
        if request.policy_oid is not None and request.policy_oid != policy_oid:
            raise TsaUnacceptedPolicy(f"policy {request.policy_oid} is not supported")
        token = timestamp(
            clock=clock,
            signer=signer,
            digest_algorithm_oid=request.digest_algorithm_oid,
            digest=request.digest,
            nonce=request.nonce,
            cert_req=request.cert_req,
            policy_oid=policy_oid,
        )
    except TsaRefusal as exc:
        return rejection_response(exc.failure_info, exc.detail)
    except TsaUnavailable as exc:
        return rejection_response(exc.failure_info, exc.detail)
    return granted_response(token)
