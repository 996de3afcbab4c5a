"""Verifying every signature of an OFD package (eseal spec §7.3) and GB/T 35275 SignedData (§8).

Per signature: References (digest of each stored file vs CheckValue; the page carrying the
StampAnnot must be covered), then ``Type="Seal"`` → SES_Signature verification with original =
the raw Signature.xml, plus ``Seal.esl`` byte-identical to the embedded seal; ``Type="Sign"`` →
SignedData verification. A document edited after signing (References fail, signatures intact) is
reported as ``document_modified``, never as valid (§7.3 step 8). A broken signature does not stop
the others.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from seals.checks import (
    check_cert_valid,
    check_digest,
    check_sm2_signature,
    check_trust,
    load_certificate,
)
from seals.cms import parse_signed_data
from seals.errors import OfdError
from seals.ofd import (
    SignatureDescription,
    SignatureEntry,
    check_references,
    page_content_paths,
    read_doc_bodies,
    read_signature_xml,
    read_signatures_xml,
    uncovered,
)
from seals.ofd_package import DEFAULT_LIMITS, OfdPackage, PackageLimits, open_package
from seals.ports import CertPurpose, TimestampVerifier, TrustEvaluator
from seals.results import (
    REASON_DOCUMENT_MODIFIED,
    Check,
    OfdVerification,
    ReferenceResult,
    ReferenceStatus,
    SignatureVerification,
    Verdict,
)
from seals.ses import SignedValueKind, classify_signed_value, parse_ses_signature
from seals.verify_ses import malformed_signature_result, verify_ses_signature, with_verdict
from trust.crypto.algorithms import OID_SM3
from trust.errors import TrustError

__all__ = ["verify_ofd", "verify_signed_data"]

_NA = Check.not_checked("not_applicable", "GB/T 35275 signature: no seal involved")


def verify_signed_data(
    data: bytes, *, original: bytes | None, trust: TrustEvaluator, now: datetime | None
) -> SignatureVerification:
    """A GB/T 35275 SignedData over ``original`` (eseal spec §8, forms A and B)."""
    try:
        sd = parse_signed_data(data)
    except TrustError as exc:
        return malformed_signature_result(exc.code, exc.detail, kind="sign")
    notes = list(sd.findings)
    if sd.signer_cert is None:
        signer_sig = Check.failed("cms.signer_certificate_missing")
    elif sd.digest_algorithm != OID_SM3:
        signer_sig = Check.failed("cms.unsupported_digest_algorithm", sd.digest_algorithm)
    else:
        signer_sig, encoding = check_sm2_signature(
            sd.signer_cert, sd.signed_message, sd.signature, sd.signature_algorithm
        )
        if encoding is not None and encoding.value == "raw":
            notes.append("cms.signature_raw_rs")
    if sd.covered_digest is None:
        doc_hash = Check.failed("cms.no_message_digest")
    else:
        doc_hash = check_digest(sd.covered_digest, original, what="Signature.xml")
    at, basis = (sd.signing_time, "signing_time") if sd.signing_time else (now, "verification_time")
    cert = load_certificate(sd.signer_cert) if sd.signer_cert else None
    result = SignatureVerification(
        verdict=Verdict.INDETERMINATE,
        reason="pending",
        kind="sign",
        version=None,
        signature_id=None,
        signature_path=None,
        seal_name=None,
        seal_type=None,
        es_id=None,
        signer_subject=cert.subject_text() if cert else None,
        signer_organisation=cert.organisation if cert else None,
        signing_time=sd.signing_time,
        time_basis="signing_time_attribute" if sd.signing_time else basis,
        property_info=None,
        non_conformities=(f"cms.form_{sd.form}", *notes),
        format=Check.passed("ok", form=sd.form),
        signer_signature=signer_sig,
        signer_cert_in_seal=_NA,
        signer_cert_valid_at_signing_time=check_cert_valid(
            cert, at, now=now, basis=basis, purpose=CertPurpose.DOCUMENT_SIGNER
        ),
        signer_cert_trusted=(
            check_trust(trust, sd.signer_cert, at, CertPurpose.DOCUMENT_SIGNER)
            if sd.signer_cert
            else Check.failed("cms.signer_certificate_missing")
        ),
        seal_signature=_NA,
        maker_cert_valid=_NA,
        maker_cert_trusted=_NA,
        seal_valid_at_signing_time=_NA,
        timestamp=Check.not_checked("timestamp.absent"),
        seal_timestamp=_NA,
        document_hash=doc_hash,
        ofd_references=Check.not_checked("ofd.not_an_ofd"),
        seal_file=_NA,
    )
    return with_verdict(result)


def _references_check(
    refs: tuple[ReferenceResult, ...], desc: SignatureDescription, pages: dict[str, str]
) -> Check:
    if not refs:
        return Check.failed("ofd.no_references", "the signature protects no file")
    ok = sum(r.status is ReferenceStatus.OK for r in refs)
    count = f"{ok}/{len(refs)}"
    bad = [r for r in refs if r.status is not ReferenceStatus.OK]
    if bad:
        worst = next((r for r in bad if r.status is ReferenceStatus.MISMATCH), bad[0])
        return Check.failed(
            f"ofd.reference_{worst.status.value}",
            ", ".join(f"{r.file_ref}: {r.status.value}" for r in bad),
            ok=count,
        )
    covered = {r.path for r in refs}
    for annot in desc.stamp_annots:
        page = pages.get(annot.page_ref or "")
        # eseal spec §7.3 step 5: the page carrying the StampAnnot must be covered.
        if page is not None and page not in covered:
            return Check.failed("ofd.stamp_page_not_covered", page, ok=count)
    return Check.passed("ok", ok=count)


def _seal_file_check(pkg: OfdPackage, desc: SignatureDescription, signed_value: bytes) -> Check:
    if desc.seal_path is None:
        return Check.not_checked("ofd.no_seal_file")
    stored = pkg.get(desc.seal_path)
    if stored is None:
        return Check.failed("ofd.seal_file_missing", desc.seal_path)
    try:
        embedded = parse_ses_signature(signed_value).seal.raw
    except TrustError:
        return Check.cannot_check("ofd.signed_value_unreadable")
    if stored == embedded:
        return Check.passed("ok")
    return Check.failed("ofd.seal_file_differs", "Seal.esl differs from the seal in SignedValue")


def _verify_value(
    pkg: OfdPackage,
    entry: SignatureEntry,
    desc: SignatureDescription,
    trust: TrustEvaluator,
    now: datetime | None,
    timestamps: TimestampVerifier | None,
) -> tuple[SignatureVerification, Check]:
    value = pkg.get(desc.signed_value_path) if desc.signed_value_path else None
    if value is None:
        return malformed_signature_result(
            "ofd.signed_value_missing", "no SignedValue file (broken signature)"
        ), _NA
    try:
        kind = classify_signed_value(value)
    except TrustError as exc:
        return malformed_signature_result(exc.code, exc.detail), _NA
    if entry.type == "Sign" or kind is SignedValueKind.CMS:
        return verify_signed_data(value, original=desc.raw, trust=trust, now=now), _NA
    if kind is SignedValueKind.PLAIN_SM2:
        return malformed_signature_result(
            "ofd.signed_value_plain_sm2", "a bare SM2 signature is not a seal signature"
        ), _NA
    result = verify_ses_signature(
        value, original=desc.raw, trust=trust, now=now, timestamps=timestamps
    )
    return result, _seal_file_check(pkg, desc, value)


def _verify_entry(
    pkg: OfdPackage,
    entry: SignatureEntry,
    pages: dict[str, str],
    trust: TrustEvaluator,
    now: datetime | None,
    timestamps: TimestampVerifier | None,
    acc: dict[str, set[str]],
    findings: list[str],
) -> SignatureVerification:
    if entry.path is None:
        return malformed_signature_result(
            entry.error or "ofd.bad_path", f"BaseLoc {entry.base_loc!r}", signature_id=entry.id
        )
    acc["own"].add(entry.path)
    try:
        desc = read_signature_xml(pkg, entry.path, findings)
    except OfdError as exc:
        return malformed_signature_result(
            exc.code, exc.detail, signature_id=entry.id, signature_path=entry.path
        )
    if desc.signed_value_path:
        acc["own"].add(desc.signed_value_path)
    refs = check_references(pkg, desc)
    acc["covered"].update(r.path for r in refs if r.path)
    base, seal_file = _verify_value(pkg, entry, desc, trust, now, timestamps)
    extra: list[str] = []
    if base.kind == "seal" and base.property_info not in (None, "/" + entry.path):
        extra.append("ofd.property_info_differs_from_path")
    own = [entry.path] + ([desc.signed_value_path] if desc.signed_value_path else [])
    return with_verdict(
        replace(
            base,
            kind="sign" if entry.type == "Sign" else base.kind,
            signature_id=entry.id,
            signature_path=entry.path,
            ofd_references=_references_check(refs, desc, pages),
            references=refs,
            seal_file=seal_file,
            uncovered_files=uncovered(pkg.names, (r.path for r in refs if r.path), own),
            non_conformities=base.non_conformities + tuple(extra),
        )
    )


def _overall(results: list[SignatureVerification]) -> tuple[Verdict, str]:
    if not results:
        return Verdict.INVALID, "ofd.no_signatures"
    invalid = [r for r in results if r.verdict is Verdict.INVALID]
    if invalid:
        if any(r.reason == REASON_DOCUMENT_MODIFIED for r in invalid):
            return Verdict.INVALID, REASON_DOCUMENT_MODIFIED
        return Verdict.INVALID, invalid[0].reason
    pending = [r for r in results if r.verdict is Verdict.INDETERMINATE]
    if pending:
        return Verdict.INDETERMINATE, pending[0].reason
    return Verdict.VALID, "ok"


def verify_ofd(
    ofd_bytes: bytes,
    *,
    trust: TrustEvaluator,
    now: datetime | None,
    timestamps: TimestampVerifier | None = None,
    limits: PackageLimits = DEFAULT_LIMITS,
) -> OfdVerification:
    """Verify all signatures of an OFD. Raises ``OfdError``/``OfdTooLarge`` only when the package
    itself cannot be read (not a ZIP, limits exceeded, OFD.xml unusable)."""
    pkg = open_package(ofd_bytes, limits=limits)
    findings: list[str] = list(pkg.findings)
    acc: dict[str, set[str]] = {"own": set(), "covered": set()}
    results: list[SignatureVerification] = []
    for body in read_doc_bodies(pkg, findings):
        if body.signatures is None:
            continue
        try:
            pages = page_content_paths(pkg, body.doc_root, findings)
        except OfdError as exc:  # the References check still covers Document.xml itself
            findings.append(f"{exc.code}:{body.doc_root}")
            pages = {}
        try:
            sig_file = read_signatures_xml(pkg, body.signatures, findings)
        except OfdError as exc:
            results.append(
                malformed_signature_result(exc.code, exc.detail, signature_path=body.signatures)
            )
            continue
        for entry in sig_file.entries:
            results.append(_verify_entry(pkg, entry, pages, trust, now, timestamps, acc, findings))
    verdict, reason = _overall(results)
    all_uncovered = uncovered(pkg.names, acc["covered"], acc["own"])
    return OfdVerification(
        verdict, reason, tuple(results), all_uncovered, tuple(dict.fromkeys(findings))
    )
