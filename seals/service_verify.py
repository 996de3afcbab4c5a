"""Verification service (issue 4 item 4): one uploaded file in, one JSON-ready report out.

``verify_file`` detects the kind - SESeal (``.esl``), SES_Signature (``.sig`` / ``.dat``), PDF,
OFD - runs the matching pure verifier (``seals.verification``, ``seals.pdf_verify``) with the
service's ``TrustEvaluator`` and ``TimestampVerifier`` (``seals.trust_adapter``), and returns::

    {"verdict": "VALID" | "INVALID" | "INDETERMINATE", "reason": ..., "kind": ...,
     "document_sm3": ..., "size": ..., "verified_at": ..., "signatures": [ {...}, ... ],
     "uncovered_files": [...], "non_conformities": [...]}

Each signature entry has its own ``verdict``/``reason``, the seal's name and type, the
organisation, the signer's subject, the signing time and its basis, and ``checks`` (name ->
``status`` pass / fail / not_checked / cannot_check, ``reason``, ``detail``), as eseal spec §5.4
asks. When a seal is in this service's registry the entry also carries ``registry`` (seal id,
type, organisation, current status).

Verdicts fail closed (``seals.results.decide``): a signature that is intact but chains to no
trusted anchor is INDETERMINATE, never VALID. A PDF signature is judged on: the byte range
(ISO 32000-1 §12.8.1), SM3 of the covered bytes = messageDigest, the SM2 signature over the
signed attributes, whole-file coverage (later incremental updates that only add signatures are
accepted; anything else is "document modified"), the signature timestamp when present (RFC 3161
Appendix A: imprint over the signature value, TSA certificate chaining to a trust anchor), the
signer certificate's period at the signing time (the timestamp's time when it is good, else the
signingTime attribute, the signer's claim) and its chain.

A detached SES_Signature (``bytes`` form) can only be VALID when the ``original`` is given: its
SM3 is the signed ``dataHash``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from seals.checks import check_cert_valid, check_trust, load_certificate
from seals.errors import DocumentTooLarge, UnknownFileKind
from seals.lifecycle import SealStatus, SealType, effective_status, type_info
from seals.model import Seal
from seals.pdf_verify import LaterChanges, PdfSignatureCheck, verify_pdf_signatures
from seals.ports import CertPurpose, TimestampVerifier, TrustEvaluator
from seals.results import REASON_DOCUMENT_MODIFIED, Check, Verdict, decide
from seals.ses import parse_seal, parse_ses_signature
from seals.trust_adapter import service_trust
from seals.verification import verify_ofd, verify_seal, verify_ses_signature
from seals.verify_ses import check_timestamp
from trust.clock import Clock
from trust.crypto import sm3
from trust.errors import TrustError
from trust.principals import service as principals

__all__ = ["MAX_VERIFY_BYTES", "FileKind", "detect_kind", "verify_file"]

MAX_VERIFY_BYTES: Final = 20 * 1024 * 1024
_SEAL_HINTS: Final = (".esl", "seal")
_SIGNATURE_HINTS: Final = (".sig", ".dat", ".ses", "signature")


class FileKind(StrEnum):
    SEAL = "seal"  # SESeal (.esl)
    SES_SIGNATURE = "ses_signature"  # SES_Signature (.sig, SignedValue.dat)
    PDF = "pdf"
    OFD = "ofd"


def _parses(parse: Any, data: bytes) -> bool:
    try:
        parse(data)
    except TrustError:
        return False
    return True


def detect_kind(data: bytes, hint: str | None = None) -> FileKind:
    """By content first (``%PDF-``, ZIP, DER). DER that reads as neither kind is refused with
    the reading error of the kind the ``hint`` (file name or media type) names - e.g.
    ``seal.der_too_deep`` or ``seal.der_truncated`` - as it cannot be verified at all (like a
    PDF or OFD that cannot be opened); without a hint it is ``seal.unknown_file_kind``."""
    head = data[:1024].lstrip()
    text = (hint or "").strip().lower()
    if head.startswith(b"%PDF-"):
        return FileKind.PDF
    if data[:4] == b"PK\x03\x04":
        return FileKind.OFD
    if data[:1] == b"\x30":
        if _parses(parse_ses_signature, data):
            return FileKind.SES_SIGNATURE
        if _parses(parse_seal, data):
            return FileKind.SEAL
        if text.endswith(_SEAL_HINTS):
            parse_seal(data)  # raises: it did not parse above
        if text.endswith(_SIGNATURE_HINTS):
            parse_ses_signature(data)  # raises
    raise UnknownFileKind("文件不是电子印章（.esl）、电子签章（SES_Signature）、PDF 或 OFD")


# --------------------------------------------------------------------------- registry look-ups


def _registry(session: Session, now: datetime, row: Seal | None) -> dict[str, Any] | None:
    if row is None:
        return None
    org = principals.get_organisation(session=session, organisation_id=row.organisation_id)
    seal_type = SealType(row.seal_type)
    return {
        "seal_id": row.id,
        "name": row.name,
        "seal_type": seal_type.value,
        "type_label": type_info(seal_type).label,
        "organisation_id": org.id,
        "organisation_name": org.name,
        "organisation_uscc": org.uscc,
        "status": effective_status(SealStatus(row.status), valid_to=row.valid_to, now=now).value,
    }


def _by_es_id(session: Session, es_id: str | None) -> Seal | None:
    if not es_id:
        return None
    return session.scalars(select(Seal).where(Seal.es_id == es_id)).first()


def _by_holder_cert(session: Session, cert: bytes | None) -> Seal | None:
    if cert is None:
        return None
    return session.scalars(select(Seal).where(Seal.holder_cert_sm3 == sm3(cert).hex())).first()


# --------------------------------------------------------------------------- entries


def _entry(
    base: dict[str, Any], session: Session, now: datetime, row: Seal | None
) -> dict[str, Any]:
    registry = _registry(session, now, row)
    base["registry"] = registry
    if registry is not None:
        base["seal_type_label"] = registry["type_label"]
        base["organisation"] = base.get("organisation") or registry["organisation_name"]
    else:
        base.setdefault("seal_type_label", None)
    return base


def _signature_entry(
    result: dict[str, Any], session: Session, now: datetime, index: int
) -> dict[str, Any]:
    entry = dict(result)
    entry["index"] = index
    entry["organisation"] = result.get("signer_organisation")
    return _entry(entry, session, now, _by_es_id(session, result.get("es_id")))


def _seal_entry(result: dict[str, Any], session: Session, now: datetime) -> dict[str, Any]:
    entry = dict(result)
    entry.update(
        index=0,
        kind="seal",
        signer_subject=result.get("maker_subject"),
        organisation=None,
        signing_time=result.get("create_date"),
    )
    return _entry(entry, session, now, _by_es_id(session, result.get("es_id")))


def _coverage(check: PdfSignatureCheck) -> Check:
    if check.covers_whole_file:
        return Check.passed("pdf.whole_file")
    if check.byte_range_ok and check.later_changes is LaterChanges.SIGNATURES:
        return Check.passed(
            "pdf.later_signatures_only",
            "later incremental updates only add signatures or fill forms",
            later_revisions=",".join(map(str, check.later_revisions)),
        )
    return Check.failed(
        "pdf.modified_after_signing",
        f"changes after signing: {check.later_changes.value}",
        later_revisions=",".join(map(str, check.later_revisions)),
    )


def _pdf_time(
    check: PdfSignatureCheck, timestamps: TimestampVerifier
) -> tuple[Check, datetime | None, str]:
    """The ``timestamp`` check, and the signing time with its basis (eseal spec §5.3)."""
    ts_check, outcome = check_timestamp(check.timestamp_token, check.signature_value, timestamps)
    if outcome is not None and outcome.time is not None:
        return ts_check, outcome.time, "timestamp"
    if check.signing_time is not None:
        return ts_check, check.signing_time, "signing_time_attribute"
    return ts_check, None, "unknown"


def _pdf_checks(
    check: PdfSignatureCheck,
    trust: TrustEvaluator,
    now: datetime,
    ts_check: Check,
    at: datetime | None,
) -> dict[str, Check]:
    reasons = ", ".join(check.reasons)
    cert = load_certificate(check.signer_certificate) if check.signer_certificate else None
    if check.signer_certificate is None:
        valid = Check.failed("cert.missing", reasons)
        trusted = Check.not_checked("cert.missing")
    else:
        valid = check_cert_valid(
            cert, at, now=now, basis="signing_time", purpose=CertPurpose.SEAL_SIGNER
        )
        trusted = check_trust(trust, check.signer_certificate, at, CertPurpose.SEAL_SIGNER)
    encoding = check.signature_encoding.value if check.signature_encoding else None
    return {
        "format": Check.passed("ok")
        if check.byte_range_ok
        else Check.failed("pdf.byte_range", reasons),
        "signer_signature": (
            Check.passed("ok", encoding=encoding or "")
            if check.signature_ok
            else Check.failed("signature.mismatch", reasons)
        ),
        "document_hash": (
            Check.passed("ok", algorithm="sm3")
            if check.digest_ok
            else Check.failed("document.hash_mismatch", reasons)
        ),
        "coverage": _coverage(check),
        "signer_cert_valid_at_signing_time": valid,
        "signer_cert_trusted": trusted,
        "timestamp": ts_check,
    }


_PDF_ORDER: Final = (
    "format",
    "signer_signature",
    "document_hash",
    "coverage",
    "signer_cert_valid_at_signing_time",
    "signer_cert_trusted",
    "timestamp",
)
#: A missing timestamp (not_checked) is fine; a bad one fails, one that cannot be checked
#: leaves the signature INDETERMINATE.
_PDF_OPTIONAL: Final = frozenset({"timestamp"})


def _pdf_entry(
    check: PdfSignatureCheck,
    index: int,
    trust: TrustEvaluator,
    timestamps: TimestampVerifier,
    session: Session,
    now: datetime,
) -> dict[str, Any]:
    ts_check, at, basis = _pdf_time(check, timestamps)
    checks = _pdf_checks(check, trust, now, ts_check, at)
    verdict, reason = decide(
        [(name, checks[name], name not in _PDF_OPTIONAL) for name in _PDF_ORDER],
        integrity=("signer_signature", "document_hash"),
        references="coverage",
    )
    cert = load_certificate(check.signer_certificate) if check.signer_certificate else None
    row = _by_holder_cert(session, check.signer_certificate)
    entry: dict[str, Any] = {
        "index": index,
        "kind": "pdf",
        "verdict": verdict.value,
        "reason": reason,
        "field_name": check.field_name,
        "seal_name": row.name if row is not None else None,
        "seal_type": type_info(SealType(row.seal_type)).ses_code if row is not None else None,
        "es_id": row.es_id if row is not None else None,
        "signer_subject": cert.subject_text() if cert else None,
        "organisation": cert.organisation if cert else None,
        "signing_time": at.isoformat() if at else None,
        "time_basis": basis,
        "byte_range": list(check.byte_range),
        "later_revisions": list(check.later_revisions),
        "later_changes": check.later_changes.value,
        "non_conformities": [r for r in check.reasons if r == "raw_signature_encoding"],
        "checks": {name: checks[name].to_dict() for name in _PDF_ORDER},
    }
    return _entry(entry, session, now, row)


# --------------------------------------------------------------------------- overall


def _overall(entries: list[dict[str, Any]], empty_reason: str) -> tuple[Verdict, str]:
    if not entries:
        return Verdict.INVALID, empty_reason
    invalid = [e for e in entries if e["verdict"] == Verdict.INVALID.value]
    if invalid:
        if any(e["reason"] == REASON_DOCUMENT_MODIFIED for e in invalid):
            return Verdict.INVALID, REASON_DOCUMENT_MODIFIED
        return Verdict.INVALID, str(invalid[0]["reason"])
    pending = [e for e in entries if e["verdict"] == Verdict.INDETERMINATE.value]
    if pending:
        return Verdict.INDETERMINATE, str(pending[0]["reason"])
    return Verdict.VALID, "ok"


def verify_file(
    data: bytes,
    hint: str | None = None,
    *,
    session: Session,
    clock: Clock,
    original: bytes | None = None,
) -> dict[str, Any]:
    """Verify one file (see the module docstring); ``hint`` is its name or media type,
    ``original`` the protected data of a detached SES_Signature."""
    if not data:
        raise UnknownFileKind("文件为空")
    if len(data) > MAX_VERIFY_BYTES or (original is not None and len(original) > MAX_VERIFY_BYTES):
        raise DocumentTooLarge(f"文件超过 {MAX_VERIFY_BYTES} 字节")
    kind = detect_kind(data, hint)
    trust, timestamps = service_trust(session=session)
    now = clock.now()
    entries: list[dict[str, Any]] = []
    uncovered: list[str] = []
    findings: list[str] = []
    verdict: Verdict
    if kind is FileKind.SEAL:
        seal = verify_seal(data, trust=trust, at=None, now=now, timestamps=timestamps)
        entries.append(_seal_entry(seal.to_dict(), session, now))
        verdict, reason = seal.verdict, seal.reason
    elif kind is FileKind.SES_SIGNATURE:
        sig = verify_ses_signature(
            data, original=original, trust=trust, now=now, timestamps=timestamps
        )
        entries.append(_signature_entry(sig.to_dict(), session, now, 0))
        verdict, reason = sig.verdict, sig.reason
    elif kind is FileKind.OFD:
        ofd = verify_ofd(data, trust=trust, now=now, timestamps=timestamps)
        entries = [
            _signature_entry(s.to_dict(), session, now, i) for i, s in enumerate(ofd.signatures)
        ]
        uncovered, findings = list(ofd.uncovered_files), list(ofd.non_conformities)
        verdict, reason = ofd.verdict, ofd.reason
    else:
        pdf = verify_pdf_signatures(data)
        entries = [
            _pdf_entry(s, i, trust, timestamps, session, now) for i, s in enumerate(pdf.signatures)
        ]
        verdict, reason = _overall(entries, "pdf.no_signatures")
    return {
        "verdict": verdict.value,
        "reason": reason,
        "kind": kind.value,
        "filename": hint,
        "document_sm3": sm3(data).hex(),
        "size": len(data),
        "original_sm3": sm3(original).hex() if original is not None else None,
        "verified_at": now.isoformat(),
        "signatures": entries,
        "uncovered_files": uncovered,
        "non_conformities": findings,
    }
