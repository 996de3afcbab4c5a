"""Verifying an SESeal (eseal spec §5.1) and an SES_Signature (§5.2, GB/T 38540 §7.3 order).

Order of the checks for a seal signature (GB/T 38540 §7.3 [recon]): 1 format of SES_Signature and
the embedded SESeal; 2 signer signature over the raw TBS_Sign; 3 signer certificate in the seal's
certList; 4 the seal (maker signature, maker certificate, seal period at the signing time);
5 signer certificate at the signing time (GM/T 0031-2014 §6.2.3 c-d); 6 timestamp; 7 original hash.
Trust (chain to a configured anchor) is asked of a ``TrustEvaluator`` and reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from seals.checks import (
    check_cert_in_seal,
    check_cert_valid,
    check_digest,
    check_seal_period,
    check_sm2_signature,
    check_trust,
    load_certificate,
)
from seals.ports import (
    CertPurpose,
    TimestampOutcome,
    TimestampStatus,
    TimestampVerifier,
    TrustEvaluator,
)
from seals.results import Check, SealVerification, SignatureVerification, Verdict, decide
from seals.ses import SealVersion, SESeal, SESSignature, parse_seal, parse_ses_signature
from seals.x509 import Certificate
from trust.crypto.sm2 import SignatureEncoding
from trust.errors import TrustError

__all__ = [
    "check_timestamp",
    "malformed_signature_result",
    "verify_seal",
    "verify_ses_signature",
]

_NA = Check.not_checked("not_applicable")
_EKU_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"


@dataclass(frozen=True, slots=True)
class _SealPart:
    seal_signature: Check
    maker_cert_valid: Check
    maker_cert_trusted: Check
    seal_valid: Check
    timestamp: Check
    notes: tuple[str, ...]


def _format_check(errors: tuple[str, ...], version: SealVersion) -> Check:
    if errors:
        return Check.failed("format.non_conformant", ", ".join(errors), version=str(int(version)))
    return Check.passed("ok", version=str(int(version)))


def check_timestamp(
    token: bytes | None,
    covered: bytes,
    verifier: TimestampVerifier | None,
) -> tuple[Check, TimestampOutcome | None]:
    """The ``timestamp`` check of a token whose imprint must cover ``covered``, and the outcome
    when the token is good (its time then becomes the signing time, eseal spec §5.3)."""
    if token is None:
        return Check.not_checked("timestamp.absent"), None
    if verifier is None:
        return Check.cannot_check("timestamp.no_verifier", "no timestamp verifier configured"), None
    try:
        outcome = verifier.verify(token, covered=covered)
    except TrustError as exc:
        return Check.cannot_check("timestamp.verifier_error", exc.detail), None
    if outcome.status is TimestampStatus.VALID and outcome.time is not None:
        return Check.passed(outcome.reason, outcome.detail, time=outcome.time.isoformat()), outcome
    if outcome.status is TimestampStatus.INVALID:
        return Check.failed(outcome.reason, outcome.detail), None
    return Check.cannot_check(outcome.reason, outcome.detail), None


def _seal_part(
    seal: SESeal,
    *,
    at: datetime | None,
    basis: str,
    now: datetime | None,
    trust: TrustEvaluator,
    timestamps: TimestampVerifier | None,
) -> _SealPart:
    notes: list[str] = []
    signature, encoding = check_sm2_signature(
        seal.maker_cert, seal.signed_bytes, seal.signed_value, seal.signature_algorithm
    )
    if encoding is SignatureEncoding.RAW:
        notes.append("seal.maker_signature_raw_rs")
    maker = load_certificate(seal.maker_cert)
    create = seal.property.create_date
    if (
        maker is not None
        and maker.extended_key_usage is not None
        and set(maker.extended_key_usage) <= {_EKU_TIME_STAMPING}
    ):
        # A strict key-usage policy may question this (samples README, esl-demo); policy decides.
        notes.append("seal.maker_cert_eku_timestamping_only")
    listed = [c for c in map(load_certificate, seal.property.certs) if c is not None]
    if listed and all(c.not_after < seal.property.valid_start for c in listed):
        # No signature made with this seal can pass the signer-certificate time check.
        notes.append("seal.listed_signer_certs_expired_before_valid_start")
    cert_at: datetime | None = at
    cert_basis = basis
    if seal.version is SealVersion.V5:
        # GM/T 0031-2025 [recon]: maker certificate judged at createDate.
        cert_at, cert_basis = create, "create_date"
    maker_valid = check_cert_valid(
        maker, cert_at, now=now, basis=cert_basis, purpose=CertPurpose.SEAL_MAKER
    )
    trusted = check_trust(trust, seal.maker_cert, cert_at, CertPurpose.SEAL_MAKER)
    period = check_seal_period(seal, at, now=now, basis=basis)
    if seal.version is SealVersion.V5 and not create <= seal.property.valid_end:
        period = Check.failed("seal.create_date_after_valid_end")
    ts_check, outcome = check_timestamp(seal.timestamp, seal.signed_value, timestamps)
    if outcome is not None and outcome.time is not None and outcome.time < create:
        # GM/T 0031-2025 [recon]: createDate <= timestamp time.
        ts_check = Check.failed("timestamp.before_create_date", time=outcome.time.isoformat())
    return _SealPart(signature, maker_valid, trusted, period, ts_check, tuple(notes))


def _malformed_seal(exc: TrustError) -> SealVerification:
    nc = Check.not_checked("format_failed")
    return SealVerification(
        verdict=Verdict.INVALID,
        reason=exc.code,
        version=None,
        vid=None,
        es_id=None,
        seal_name=None,
        seal_type=None,
        maker_subject=None,
        create_date=None,
        valid_start=None,
        valid_end=None,
        judged_at=None,
        time_basis="unknown",
        non_conformities=(),
        format=Check.failed(exc.code, exc.detail),
        seal_signature=nc,
        maker_cert_valid=nc,
        maker_cert_trusted=nc,
        seal_valid=nc,
        timestamp=nc,
    )


def verify_seal(
    seal_der: bytes,
    *,
    trust: TrustEvaluator,
    at: datetime | None,
    now: datetime | None = None,
    timestamps: TimestampVerifier | None = None,
) -> SealVerification:
    """Verify an SESeal on its own (eseal spec §5.1): format, maker signature over the §3.5
    bytes, maker certificate, trust, seal period. Periods are judged at ``at`` (for example the
    time of intended use), or at the seal's createDate when ``at`` is None; ``now``, when given,
    adds "expired now" to passing period checks."""
    try:
        seal = parse_seal(seal_der)
    except TrustError as exc:
        return _malformed_seal(exc)
    judged_at = at if at is not None else seal.property.create_date
    basis = "given_time" if at is not None else "create_date"
    part = _seal_part(seal, at=judged_at, basis=basis, now=now, trust=trust, timestamps=timestamps)
    fmt = _format_check(seal.format_errors, seal.version)
    verdict, reason = decide(
        [
            ("format", fmt, True),
            ("seal_signature", part.seal_signature, True),
            ("maker_cert_valid", part.maker_cert_valid, True),
            ("seal_valid", part.seal_valid, True),
            ("timestamp", part.timestamp, False),
            ("maker_cert_trusted", part.maker_cert_trusted, True),
        ]
    )
    maker = load_certificate(seal.maker_cert)
    prop = seal.property
    return SealVerification(
        verdict=verdict,
        reason=reason,
        version=int(seal.version),
        vid=seal.vid,
        es_id=seal.es_id,
        seal_name=prop.name,
        seal_type=prop.type,
        maker_subject=maker.subject_text() if maker else None,
        create_date=prop.create_date,
        valid_start=prop.valid_start,
        valid_end=prop.valid_end,
        judged_at=judged_at,
        time_basis=basis,
        non_conformities=seal.findings + part.notes,
        format=fmt,
        seal_signature=part.seal_signature,
        maker_cert_valid=part.maker_cert_valid,
        maker_cert_trusted=part.maker_cert_trusted,
        seal_valid=part.seal_valid,
        timestamp=part.timestamp,
    )


def malformed_signature_result(
    code: str,
    detail: str,
    *,
    kind: str = "seal",
    signature_id: str | None = None,
    signature_path: str | None = None,
) -> SignatureVerification:
    """The result for a signature whose bytes could not be read at all (format failed)."""
    nc = Check.not_checked("format_failed")
    return SignatureVerification(
        verdict=Verdict.INVALID,
        reason=code,
        kind=kind,
        version=None,
        signature_id=signature_id,
        signature_path=signature_path,
        seal_name=None,
        seal_type=None,
        es_id=None,
        signer_subject=None,
        signer_organisation=None,
        signing_time=None,
        time_basis="unknown",
        property_info=None,
        non_conformities=(),
        format=Check.failed(code, detail),
        signer_signature=nc,
        signer_cert_in_seal=nc,
        signer_cert_valid_at_signing_time=nc,
        signer_cert_trusted=nc,
        seal_signature=nc,
        maker_cert_valid=nc,
        maker_cert_trusted=nc,
        seal_valid_at_signing_time=nc,
        timestamp=nc,
        seal_timestamp=nc,
        document_hash=nc,
        ofd_references=Check.not_checked("ofd.not_an_ofd"),
        seal_file=_NA,
    )


SIGNATURE_ORDER = (
    ("format", True),
    ("signer_signature", True),
    ("signer_cert_in_seal", True),
    ("seal_signature", True),
    ("maker_cert_valid", True),
    ("seal_valid_at_signing_time", True),
    ("signer_cert_valid_at_signing_time", True),
    ("timestamp", False),
    ("seal_timestamp", False),
    ("document_hash", True),
    ("ofd_references", False),
    ("seal_file", False),
    ("signer_cert_trusted", True),
    ("maker_cert_trusted", True),
)
INTEGRITY = ("signer_signature", "seal_signature", "document_hash")


def signature_verdict(result: SignatureVerification) -> tuple[Verdict, str]:
    """§7.3 order; a failed ofd_references check with intact signatures is "document modified"."""
    required_for_kind = {
        "signer_cert_in_seal",
        "seal_signature",
        "maker_cert_valid",
        "seal_valid_at_signing_time",
        "maker_cert_trusted",
    }
    checks = [
        (
            name,
            getattr(result, name),
            required and (result.kind == "seal" or name not in required_for_kind),
        )
        for name, required in SIGNATURE_ORDER
    ]
    integrity = INTEGRITY if result.kind == "seal" else ("signer_signature", "document_hash")
    return decide(checks, integrity=integrity, references="ofd_references")


def _signing_time(sig: SESSignature, ts: TimestampOutcome | None) -> tuple[datetime | None, str]:
    if ts is not None and ts.time is not None:
        return ts.time, "timestamp"
    if sig.time_info is not None:
        return sig.time_info, "time_info"
    return None, "unknown"


def verify_ses_signature(
    sig_der: bytes,
    *,
    original: bytes | None,
    trust: TrustEvaluator,
    now: datetime | None,
    timestamps: TimestampVerifier | None = None,
) -> SignatureVerification:
    """Verify an SES_Signature (v1/v4/v5). ``original`` is the protected data named by
    ``propertyInfo`` (for OFD: the raw bytes of Signature.xml); without it ``document_hash`` is
    not_checked and the verdict cannot be VALID. ``now`` only adds "expired now" information."""
    try:
        sig = parse_ses_signature(sig_der)
    except TrustError as exc:
        return malformed_signature_result(exc.code, exc.detail)
    notes = list(sig.findings)
    signer_sig, encoding = check_sm2_signature(
        sig.signer_cert, sig.tbs_raw, sig.signature, sig.signature_algorithm
    )
    if encoding is SignatureEncoding.RAW:
        notes.append("seal.signer_signature_raw_rs")
    ts_check, ts_outcome = check_timestamp(sig.timestamp, sig.signature, timestamps)
    at, basis = _signing_time(sig, ts_outcome)
    basis_name = "signing_time"
    part = _seal_part(
        sig.seal, at=at, basis=basis_name, now=now, trust=trust, timestamps=timestamps
    )
    notes.extend(part.notes)
    signer: Certificate | None = load_certificate(sig.signer_cert)
    result = SignatureVerification(
        verdict=Verdict.INDETERMINATE,
        reason="pending",
        kind="seal",
        version=int(sig.version),
        signature_id=None,
        signature_path=None,
        seal_name=sig.seal.property.name,
        seal_type=sig.seal.property.type,
        es_id=sig.seal.es_id,
        signer_subject=signer.subject_text() if signer else None,
        signer_organisation=signer.organisation if signer else None,
        signing_time=at,
        time_basis=basis,
        property_info=sig.property_info,
        non_conformities=tuple(notes),
        format=_format_check(sig.format_errors, sig.version),
        signer_signature=signer_sig,
        signer_cert_in_seal=check_cert_in_seal(sig.seal, sig.signer_cert),
        signer_cert_valid_at_signing_time=check_cert_valid(
            signer, at, now=now, basis=basis_name, purpose=CertPurpose.SEAL_SIGNER
        ),
        signer_cert_trusted=check_trust(trust, sig.signer_cert, at, CertPurpose.SEAL_SIGNER),
        seal_signature=part.seal_signature,
        maker_cert_valid=part.maker_cert_valid,
        maker_cert_trusted=part.maker_cert_trusted,
        seal_valid_at_signing_time=part.seal_valid,
        timestamp=ts_check,
        seal_timestamp=part.timestamp,
        document_hash=check_digest(sig.data_hash, original, what=sig.property_info),
        ofd_references=Check.not_checked("ofd.not_an_ofd"),
        seal_file=_NA,
    )
    return with_verdict(result)


def with_verdict(result: SignatureVerification) -> SignatureVerification:
    verdict, reason = signature_verdict(result)
    return replace(result, verdict=verdict, reason=reason)
