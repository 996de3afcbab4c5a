"""真实性 固化信息有效性: every seal and signature verified at ingest (earchive spec §4.1).

Each carrier goes to the seals verifier for its kind and the verifier's full report is kept as
evidence: PDF → ``seals.pdf_verify.verify_pdf_signatures`` (ByteRange, SM3 digest, SM2 signature;
the signer certificate's chain is then asked of the ``TrustEvaluator`` at the signing time),
OFD → ``seals.verification.verify_ofd``, a detached ``.sig`` → ``verify_ses_signature`` over the
material's bytes, an ``.esl`` → ``verify_seal``. One ``CheckItem`` per signature:

- FAIL when the signature is broken, the signed bytes changed, or (PDF) something other than
  signatures was appended after a signature, or nothing covers the whole file (spec §4.1
  "no incremental update after the last signature"), or (OFD) package files sit outside every
  signature's References;
- NOT_AVAILABLE when intact but not trusted (no configured anchor): blocking by policy;
- PASS only when intact and trusted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from archive.checks_report import (
    CheckItem,
    CheckOutcome,
    CheckPolicy,
    Dimension,
    SealEvidence,
    item,
)
from archive.seal_material import SignatureMaterial, detached_material, ofd_material
from seals.ofd import read_doc_bodies
from seals.ofd_package import open_package
from seals.pdf_verify import LaterChanges, PdfSignatureCheck, verify_pdf_signatures
from seals.ports import CertPurpose, TimestampVerifier, TrustEvaluator, TrustOutcome, TrustStatus
from seals.verification import SealVerification, SignatureVerification, Verdict, verify_ofd
from seals.verification import verify_seal as verify_esl
from seals.verify_ses import verify_ses_signature
from trust.crypto import sm3_hex
from trust.errors import TrustError

__all__ = ["SealFindings", "merge", "verify_detached", "verify_document_seals"]

_CHECK = "authenticity.seal"
_ACCEPTABLE_LATER: frozenset[LaterChanges] = frozenset({LaterChanges.NONE, LaterChanges.SIGNATURES})


@dataclass(frozen=True, slots=True)
class SealFindings:
    items: tuple[CheckItem, ...]
    evidence: tuple[SealEvidence, ...]
    intact: int  # signatures whose bytes and signature value verify (trust aside)
    total: int


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)


def _seal_item(
    subject: str,
    outcome: CheckOutcome,
    reason: str,
    message: str,
    detail: str = "",
    *,
    blocking: bool = True,
) -> CheckItem:
    return item(
        Dimension.AUTHENTICITY, _CHECK, subject, outcome, reason, message, detail, blocking=blocking
    )


def _outcome_of(
    verdict: Verdict, reason: str, subject: str, what: str, policy: CheckPolicy
) -> CheckItem:
    if verdict is Verdict.VALID:
        return _seal_item(subject, CheckOutcome.PASS, "seal.valid", f"{what}验证通过")
    if verdict is Verdict.INVALID:
        return _seal_item(subject, CheckOutcome.FAIL, f"seal.{reason}", f"{what}验证失败", reason)
    return _seal_item(
        subject,
        CheckOutcome.NOT_AVAILABLE,
        "seal.indeterminate",
        f"{what}完整但无法确认可信（{reason}）",
        reason,
        blocking=policy.require_trusted_seals,
    )


# --------------------------------------------------------------------------- PDF


def _pdf_trust(sig: PdfSignatureCheck, trust: TrustEvaluator, now: datetime) -> TrustOutcome | None:
    if sig.signer_certificate is None:
        return None
    at = sig.signing_time or now
    return trust.evaluate(sig.signer_certificate, at=at, purpose=CertPurpose.DOCUMENT_SIGNER)


def _pdf_report(sig: PdfSignatureCheck, trusted: TrustOutcome | None) -> dict[str, Any]:
    return {
        "field_name": sig.field_name,
        "byte_range": list(sig.byte_range),
        "byte_range_ok": sig.byte_range_ok,
        "covers_whole_file": sig.covers_whole_file,
        "later_revisions": list(sig.later_revisions),
        "later_changes": sig.later_changes.value,
        "digest_ok": sig.digest_ok,
        "signature_ok": sig.signature_ok,
        "signature_encoding": sig.signature_encoding.value if sig.signature_encoding else None,
        "signing_time": sig.signing_time.isoformat() if sig.signing_time else None,
        "time_basis": "signing_time_attribute" if sig.signing_time else "check_time",
        "signer_certificate_sm3": sm3_hex(sig.signer_certificate)
        if sig.signer_certificate
        else None,
        "reasons": list(sig.reasons),
        "trust": None
        if trusted is None
        else {
            "status": trusted.status.value,
            "reason": trusted.reason,
            "detail": trusted.detail,
            "chain_subjects": list(trusted.chain_subjects),
        },
    }


def _judge_pdf(
    sig: PdfSignatureCheck, trusted: TrustOutcome | None, subject: str, policy: CheckPolicy
) -> tuple[CheckItem, str]:
    what = f"PDF 签名 {sig.field_name} "
    if not sig.intact:
        reason = sig.reasons[0] if sig.reasons else "broken"
        return _seal_item(
            subject,
            CheckOutcome.FAIL,
            f"seal.{reason}",
            f"{what}已被破坏或无效",
            ", ".join(sig.reasons),
        ), "INVALID"
    if sig.later_changes not in _ACCEPTABLE_LATER:
        return _seal_item(
            subject,
            CheckOutcome.FAIL,
            "seal.modified_after_signing",
            f"{what}之后文件被修改",
            sig.later_changes.value,
        ), "INVALID"
    if trusted is None or trusted.status is TrustStatus.INVALID:
        reason = trusted.reason if trusted else "no_signer_certificate"
        return _seal_item(
            subject, CheckOutcome.FAIL, "seal.certificate_invalid", f"{what}证书无效", reason
        ), "INVALID"
    if trusted.status is TrustStatus.NO_TRUSTED_ANCHOR:
        return _seal_item(
            subject,
            CheckOutcome.NOT_AVAILABLE,
            "seal.indeterminate",
            f"{what}完整但无法确认可信",
            trusted.reason,
            blocking=policy.require_trusted_seals,
        ), "INDETERMINATE"
    return _seal_item(subject, CheckOutcome.PASS, "seal.valid", f"{what}验证通过"), "VALID"


def _verify_pdf(
    subject: str, data: bytes, trust: TrustEvaluator, now: datetime, policy: CheckPolicy
) -> SealFindings:
    try:
        result = verify_pdf_signatures(data)
    except TrustError as exc:
        bad = _seal_item(
            subject, CheckOutcome.FAIL, "seal.unreadable", "无法读取文件中的签名", exc.code
        )
        return SealFindings((bad,), (), 0, 0)
    items: list[CheckItem] = []
    evidence: list[SealEvidence] = []
    for index, sig in enumerate(result.signatures):
        trusted = _pdf_trust(sig, trust, now) if sig.intact else None
        check, verdict = _judge_pdf(sig, trusted, subject, policy)
        items.append(check)
        certs = (sig.signer_certificate,) if sig.signer_certificate else ()
        stamps = (("signature", sig.timestamp_token),) if sig.timestamp_token else ()
        evidence.append(
            SealEvidence(
                subject,
                index,
                "pdf",
                verdict,
                _json(_pdf_report(sig, trusted)),
                certificates=certs,
                signer_certificate=sig.signer_certificate,
                timestamps=stamps,
                signing_time=sig.signing_time,
            )
        )
    if result.signatures and not any(s.covers_whole_file for s in result.signatures):
        items.append(
            _seal_item(
                subject,
                CheckOutcome.FAIL,
                "seal.update_after_last_signature",
                "最后一个签名之后文件被追加修改",
            )
        )
    intact = sum(1 for s in result.signatures if s.intact)
    return SealFindings(tuple(items), tuple(evidence), intact, len(result.signatures))


# --------------------------------------------------------------------------- OFD


def _ofd_intact(sig: SignatureVerification) -> bool:
    needed = (sig.signer_signature, sig.document_hash, sig.ofd_references)
    return all(c.ok for c in needed) and (sig.kind != "seal" or sig.seal_signature.ok)


def _signature_lists(data: bytes) -> frozenset[str]:
    """The Signatures.xml files named by OFD.xml: outside every References by design, so that
    later signatures stay possible (eseal spec §7.5); the only uncovered files allowed."""
    try:
        bodies = read_doc_bodies(open_package(data), [])
    except TrustError:
        return frozenset()
    return frozenset(b.signatures for b in bodies if b.signatures)


def _verify_ofd(
    subject: str,
    data: bytes,
    trust: TrustEvaluator,
    now: datetime,
    timestamps: TimestampVerifier | None,
    policy: CheckPolicy,
) -> SealFindings:
    try:
        result = verify_ofd(data, trust=trust, now=now, timestamps=timestamps)
    except TrustError as exc:
        bad = _seal_item(
            subject, CheckOutcome.FAIL, "seal.unreadable", "无法读取文件中的签章", exc.code
        )
        return SealFindings((bad,), (), 0, 0)
    items = [
        _outcome_of(
            sig.verdict, sig.reason, subject, f"OFD 签章 {sig.signature_id or index} ", policy
        )
        for index, sig in enumerate(result.signatures)
    ]
    material = ofd_material(data)
    evidence = [
        _with_material(
            SealEvidence(subject, i, "ofd", s.verdict.value, _json(s.to_dict())),
            material[i] if i < len(material) else None,
            s.signing_time,
        )
        for i, s in enumerate(result.signatures)
    ]
    uncovered = [f for f in result.uncovered_files if f not in _signature_lists(data)]
    if result.signatures and uncovered:
        items.append(
            _seal_item(
                subject,
                CheckOutcome.FAIL,
                "seal.ofd_uncovered_files",
                "OFD 中有未被签章保护的文件",
                ", ".join(uncovered)[:300],
            )
        )
    intact = sum(1 for s in result.signatures if _ofd_intact(s))
    return SealFindings(tuple(items), tuple(evidence), intact, len(result.signatures))


def verify_document_seals(
    subject: str,
    fmt: str,
    data: bytes,
    *,
    trust: TrustEvaluator,
    now: datetime,
    timestamps: TimestampVerifier | None,
    policy: CheckPolicy,
) -> SealFindings:
    """Every signature inside a PDF/OFD document (an empty result for other formats)."""
    if fmt in ("pdf", "pdfa"):
        return _verify_pdf(subject, data, trust, now, policy)
    if fmt == "ofd":
        return _verify_ofd(subject, data, trust, now, timestamps, policy)
    return SealFindings((), (), 0, 0)


def verify_detached(
    subject: str,
    kind: str,
    data: bytes,
    *,
    original: bytes | None,
    covers: str,
    trust: TrustEvaluator,
    now: datetime,
    timestamps: TimestampVerifier | None,
    policy: CheckPolicy,
) -> SealFindings:
    """A detached SES_Signature over ``original`` (``covers``' bytes), or an SESeal file."""
    result: SealVerification | SignatureVerification
    if kind == "seal":
        result = verify_esl(data, trust=trust, at=None, now=now, timestamps=timestamps)
        what = "印章文件 "
        intact = result.format.ok and result.seal_signature.ok
    else:
        result = verify_ses_signature(
            data, original=original, trust=trust, now=now, timestamps=timestamps
        )
        what = f"对 {covers} 的独立签章 "
        intact = result.signer_signature.ok and result.document_hash.ok and result.seal_signature.ok
    check = _outcome_of(result.verdict, result.reason, subject, what, policy)
    evidence = _with_material(
        SealEvidence(subject, 0, kind, result.verdict.value, _json(result.to_dict())),
        detached_material(kind, data),
        getattr(result, "signing_time", None),
    )
    return SealFindings((check,), (evidence,), int(intact), 1)


def _with_material(
    ev: SealEvidence, material: SignatureMaterial | None, signing_time: datetime | None
) -> SealEvidence:
    if material is None:
        return replace(ev, signing_time=signing_time)
    return replace(
        ev,
        certificates=material.certificates,
        signer_certificate=material.signer_certificate,
        maker_certificate=material.maker_certificate,
        timestamps=material.timestamps,
        signing_time=signing_time,
    )


def merge(findings: Sequence[SealFindings]) -> SealFindings:
    return SealFindings(
        tuple(i for f in findings for i in f.items),
        tuple(e for f in findings for e in f.evidence),
        sum(f.intact for f in findings),
        sum(f.total for f in findings),
    )
