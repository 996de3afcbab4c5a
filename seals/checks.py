"""The individual checks of seal and seal-signature verification, each returning a ``Check``.

Clauses: GM/T 0031-2014 §6.1.2 and §6.2.3 [text]; GB/T 38540-2020 §6.3 and §7.3 [recon];
GM/T 0031-2025 time rules [recon] (eseal spec §5). Time policy (eseal spec §5.3): periods are
judged at the signing time and the basis is reported; "expired now, valid at signing time" is a
pass with its own reason code, distinct from a failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from seals.ports import CertPurpose, TrustEvaluator, TrustStatus
from seals.results import Check
from seals.ses import SESeal
from seals.x509 import Certificate, parse_certificate
from trust.crypto.algorithms import OID_SM2_SIGN, OID_SM2_WITH_SM3
from trust.crypto.compare import constant_time_equal
from trust.crypto.hashing import sha256, sm3
from trust.crypto.sm2 import InvalidSignature, SignatureEncoding, SM2PublicKey, sm2_verify
from trust.errors import TrustError

__all__ = [
    "check_cert_in_seal",
    "check_cert_valid",
    "check_digest",
    "check_seal_period",
    "check_sm2_signature",
    "check_trust",
    "load_certificate",
]

_SIGNATURE_ALGORITHMS: Final = frozenset({OID_SM2_WITH_SM3, OID_SM2_SIGN})
_SIGNING_USAGES: Final = frozenset({"digitalSignature", "nonRepudiation"})


def load_certificate(der: bytes) -> Certificate | None:
    try:
        return parse_certificate(der)
    except TrustError:
        return None


def check_sm2_signature(
    cert_der: bytes,
    message: bytes,
    signature: bytes,
    algorithm: str,
) -> tuple[Check, SignatureEncoding | None]:
    """SM2 with SM3 and the default user ID over ``message`` (GB/T 32918.2, eseal spec §2).

    Returns the check and the signature encoding found (raw r||s is accepted and reported)."""
    if algorithm not in _SIGNATURE_ALGORITHMS:
        return Check.failed("signature.unsupported_algorithm", f"algorithm {algorithm}"), None
    try:
        key = SM2PublicKey.from_certificate(cert_der)
    except TrustError as exc:
        return Check.failed("signature.certificate_key_unusable", exc.detail), None
    try:
        encoding = sm2_verify(key, message, signature)
    except InvalidSignature as exc:
        code = "signature.malformed" if exc.reason == "malformed" else "signature.mismatch"
        return Check.failed(code, exc.detail), None
    except TrustError as exc:
        return Check.failed("signature.unverifiable", exc.detail), None
    return Check.passed("ok", encoding=encoding.value), encoding


def _period_reason(cert: Certificate, at: datetime) -> str | None:
    if at < cert.not_before:
        return "not_yet_valid"
    if at > cert.not_after:
        return "expired"
    return None


def check_cert_valid(
    cert: Certificate | None,
    at: datetime | None,
    *,
    now: datetime | None,
    basis: str,
    purpose: CertPurpose,
) -> Check:
    """Certificate period at ``at`` (the signing time), key usage and critical extensions
    (GM/T 0031-2014 §6.2.3 c-d). Revocation is left to the trust evaluator."""
    if cert is None:
        return Check.failed("cert.malformed", "the certificate does not parse")
    info = {
        "basis": basis,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
    }
    if cert.unknown_critical_extensions:
        return Check.failed(
            "cert.unknown_critical_extension", ", ".join(cert.unknown_critical_extensions), **info
        )
    if cert.key_usage is not None and not cert.key_usage & _SIGNING_USAGES:
        return Check.failed(
            "cert.key_usage_not_signing", f"keyUsage {sorted(cert.key_usage)} ({purpose})", **info
        )
    if at is None:
        return Check.cannot_check("cert.time_unknown", "no usable signing time", **info)
    info["judged_at"] = at.isoformat()
    problem = _period_reason(cert, at)
    if problem is not None:
        return Check.failed(
            f"cert.{problem}_at_{basis}",
            f"{cert.subject_text()} is {problem.replace('_', ' ')} at {at.isoformat()}",
            **info,
        )
    if now is not None:
        now_problem = _period_reason(cert, now)
        info["now"] = now_problem or "valid"
        if now_problem is not None:
            return Check.passed(
                f"cert.valid_at_{basis}_{now_problem}_now",
                f"valid at {basis}, {now_problem.replace('_', ' ')} now",
                **info,
            )
    return Check.passed(f"cert.valid_at_{basis}", **info)


def check_trust(
    trust: TrustEvaluator, cert_der: bytes, at: datetime | None, purpose: CertPurpose
) -> Check:
    if at is None:
        return Check.cannot_check("trust.time_unknown", "no usable time to judge the chain at")
    try:
        outcome = trust.evaluate(cert_der, at=at, purpose=purpose)
    except TrustError as exc:
        return Check.cannot_check("trust.evaluator_error", exc.detail)
    info = {"chain": " <- ".join(outcome.chain_subjects)} if outcome.chain_subjects else {}
    if outcome.status is TrustStatus.TRUSTED:
        return Check.passed(outcome.reason, outcome.detail, **info)
    if outcome.status is TrustStatus.NO_TRUSTED_ANCHOR:
        return Check.cannot_check(outcome.reason, outcome.detail, **info)
    return Check.failed(outcome.reason, outcome.detail, **info)


def check_seal_period(
    seal: SESeal, at: datetime | None, *, now: datetime | None, basis: str
) -> Check:
    """validStart <= at <= validEnd (GM/T 0031-2014 §6.1.2 step 4, §6.2.3 f)."""
    prop = seal.property
    info = {
        "basis": basis,
        "valid_start": prop.valid_start.isoformat(),
        "valid_end": prop.valid_end.isoformat(),
    }
    if at is None:
        return Check.cannot_check("seal.time_unknown", "no usable signing time", **info)
    info["judged_at"] = at.isoformat()
    if at < prop.valid_start:
        return Check.failed(f"seal.not_yet_valid_at_{basis}", **info)
    if at > prop.valid_end:
        return Check.failed(f"seal.expired_at_{basis}", **info)
    if now is not None and now > prop.valid_end:
        info["now"] = "expired"
        return Check.passed(
            f"seal.valid_at_{basis}_expired_now", f"valid at {basis}, expired now", **info
        )
    return Check.passed(f"seal.valid_at_{basis}", **info)


def _digest_for(name: str) -> tuple[str, bytes] | None:
    key = name.strip().lower().replace("-", "")
    if key in ("sm3", "1.2.156.10197.1.401"):
        return "sm3", b""
    if key in ("sha256", "2.16.840.1.101.3.4.2.1"):
        return "sha256", b""
    return None


def check_cert_in_seal(seal: SESeal, signer_cert: bytes) -> Check:
    """GB/T 38540 §7.3 step 3: the signer certificate is byte-identical to a ``certList`` entry
    (certListType 1) or its digest matches (certListType 2)."""
    prop = seal.property
    if prop.cert_list_type == 1:
        if any(constant_time_equal(c, signer_cert) for c in prop.certs):
            return Check.passed("ok", cert_list_type="1")
        return Check.failed(
            "seal.signer_cert_not_in_seal",
            "no certList entry matches the signer certificate byte for byte",
            cert_list_type="1",
        )
    undecided = False
    for digest in prop.cert_digests:
        algorithm = _digest_for(digest.algorithm)
        if algorithm is None:
            undecided = True
            continue
        value = sm3(signer_cert) if algorithm[0] == "sm3" else sha256(signer_cert)
        if constant_time_equal(value, digest.value):
            return Check.passed("ok", cert_list_type="2", digest=algorithm[0])
    if undecided:
        return Check.cannot_check("seal.cert_digest_algorithm_unknown", cert_list_type="2")
    return Check.failed(
        "seal.signer_cert_not_in_seal", "no certificate digest matches", cert_list_type="2"
    )


def check_digest(expected: bytes, original: bytes | None, *, what: str) -> Check:
    """SM3 of the original equals the digest the signature covers (GM/T 0031-2014 §6.2.3 e)."""
    if original is None:
        return Check.not_checked("document.no_original", f"no original given for {what}")
    actual = sm3(original)
    if constant_time_equal(actual, expected):
        return Check.passed("ok", algorithm="sm3", digest=actual.hex())
    return Check.failed(
        "document.hash_mismatch",
        f"SM3 of {what} differs from the signed digest",
        algorithm="sm3",
        expected=expected.hex(),
        actual=actual.hex(),
    )
