"""Frozen verification results (eseal spec §5.4): one ``Check`` per question, and a verdict.

Each check is pass / fail / not_checked / cannot_check with a stable reason code. The verdict is
computed fail-closed: any failed check makes the result INVALID; otherwise anything that could not
be checked (no trusted anchor, timestamp verifier missing, no original to hash) makes it
INDETERMINATE; VALID only when every required check passed. A signature that is intact but chains to
no configured anchor is therefore INDETERMINATE, never VALID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "REASON_DOCUMENT_MODIFIED",
    "Check",
    "CheckStatus",
    "OfdVerification",
    "ReferenceResult",
    "ReferenceStatus",
    "SealVerification",
    "SignatureVerification",
    "Verdict",
    "decide",
]

REASON_DOCUMENT_MODIFIED = "document_modified"


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    NOT_CHECKED = "not_checked"  # not applicable or not asked (e.g. no timestamp present)
    CANNOT_CHECK = "cannot_check"  # applicable but could not be decided (e.g. no anchor)


class Verdict(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    INDETERMINATE = "INDETERMINATE"


@dataclass(frozen=True, slots=True)
class Check:
    status: CheckStatus
    reason: str
    detail: str = ""
    info: tuple[tuple[str, str], ...] = ()

    @classmethod
    def passed(cls, reason: str = "ok", detail: str = "", **info: str) -> Check:
        return cls(CheckStatus.PASS, reason, detail, tuple(info.items()))

    @classmethod
    def failed(cls, reason: str, detail: str = "", **info: str) -> Check:
        return cls(CheckStatus.FAIL, reason, detail, tuple(info.items()))

    @classmethod
    def not_checked(cls, reason: str, detail: str = "", **info: str) -> Check:
        return cls(CheckStatus.NOT_CHECKED, reason, detail, tuple(info.items()))

    @classmethod
    def cannot_check(cls, reason: str, detail: str = "", **info: str) -> Check:
        return cls(CheckStatus.CANNOT_CHECK, reason, detail, tuple(info.items()))

    @property
    def ok(self) -> bool:
        return self.status is CheckStatus.PASS

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.info if k == key), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "reason": self.reason}
        if self.detail:
            out["detail"] = self.detail
        if self.info:
            out["info"] = dict(self.info)
        return out


class ReferenceStatus(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"
    INVALID_PATH = "invalid_path"
    UNSUPPORTED_METHOD = "unsupported_method"
    BAD_CHECK_VALUE = "bad_check_value"


@dataclass(frozen=True, slots=True)
class ReferenceResult:
    file_ref: str  # as written in Signature.xml
    path: str | None  # resolved package path (no leading slash); None if it did not resolve
    status: ReferenceStatus

    def to_dict(self) -> dict[str, Any]:
        return {"file_ref": self.file_ref, "path": self.path, "status": self.status.value}


def decide(
    checks: Sequence[tuple[str, Check, bool]],
    *,
    integrity: Sequence[str] = (),
    references: str | None = None,
) -> tuple[Verdict, str]:
    """Verdict and reason from ``(name, check, required)`` in the order of the standard.

    A failed ``references`` check while every check named in ``integrity`` passed is the
    "document modified after signing" case (eseal spec §7.3 step 8) and gets that reason.
    """
    by_name = {name: check for name, check, _ in checks}
    failed = [(name, c) for name, c, _ in checks if c.status is CheckStatus.FAIL]
    if failed:
        ref = by_name.get(references) if references else None
        if (
            ref is not None
            and ref.status is CheckStatus.FAIL
            and all(by_name[n].ok for n in integrity if n in by_name)
        ):
            return Verdict.INVALID, REASON_DOCUMENT_MODIFIED
        return Verdict.INVALID, failed[0][1].reason
    for _name, check, required in checks:
        if check.status is CheckStatus.CANNOT_CHECK or (
            required and check.status is CheckStatus.NOT_CHECKED
        ):
            return Verdict.INDETERMINATE, check.reason
    return Verdict.VALID, "ok"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _checks_dict(obj: Any, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(obj, name).to_dict() for name in names}


@dataclass(frozen=True, slots=True)
class SealVerification:
    """Result of verifying one SESeal (eseal spec §5.1)."""

    verdict: Verdict
    reason: str
    version: int | None
    vid: str | None
    es_id: str | None
    seal_name: str | None
    seal_type: int | None
    maker_subject: str | None
    create_date: datetime | None
    valid_start: datetime | None
    valid_end: datetime | None
    judged_at: datetime | None  # the time the validity checks were judged at
    time_basis: str  # "given_time" | "create_date" | "signing_time"
    non_conformities: tuple[str, ...]
    format: Check
    seal_signature: Check
    maker_cert_valid: Check
    maker_cert_trusted: Check
    seal_valid: Check  # validStart <= judged_at <= validEnd
    timestamp: Check  # v5 seal timestamp; not_checked when absent

    CHECKS = (
        "format",
        "seal_signature",
        "maker_cert_valid",
        "maker_cert_trusted",
        "seal_valid",
        "timestamp",
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "version": self.version,
            "vid": self.vid,
            "es_id": self.es_id,
            "seal_name": self.seal_name,
            "seal_type": self.seal_type,
            "maker_subject": self.maker_subject,
            "create_date": iso(self.create_date),
            "valid_start": iso(self.valid_start),
            "valid_end": iso(self.valid_end),
            "judged_at": iso(self.judged_at),
            "time_basis": self.time_basis,
            "non_conformities": list(self.non_conformities),
            "checks": _checks_dict(self, self.CHECKS),
        }


@dataclass(frozen=True, slots=True)
class SignatureVerification:
    """Result of verifying one seal signature (SES_Signature, eseal spec §5.2) or, in an OFD
    with ``Type="Sign"``, one GB/T 35275 SignedData (§8; the seal checks are then not_checked)."""

    verdict: Verdict
    reason: str
    kind: str  # "seal" | "sign"
    version: int | None
    signature_id: str | None  # OFD Signature ID, when verified inside an OFD
    signature_path: str | None  # OFD path of Signature.xml
    seal_name: str | None
    seal_type: int | None
    es_id: str | None
    signer_subject: str | None
    signer_organisation: str | None
    signing_time: datetime | None
    time_basis: str  # "timestamp" | "time_info" | "signing_time_attribute" | "unknown"
    property_info: str | None
    non_conformities: tuple[str, ...]
    format: Check
    signer_signature: Check
    signer_cert_in_seal: Check
    signer_cert_valid_at_signing_time: Check
    signer_cert_trusted: Check
    seal_signature: Check
    maker_cert_valid: Check
    maker_cert_trusted: Check
    seal_valid_at_signing_time: Check
    timestamp: Check
    seal_timestamp: Check
    document_hash: Check
    ofd_references: Check
    seal_file: Check  # OFD Seal.esl byte-identical to the embedded seal
    references: tuple[ReferenceResult, ...] = ()
    uncovered_files: tuple[str, ...] = ()

    CHECKS = (
        "format",
        "signer_signature",
        "signer_cert_in_seal",
        "signer_cert_valid_at_signing_time",
        "signer_cert_trusted",
        "seal_signature",
        "maker_cert_valid",
        "maker_cert_trusted",
        "seal_valid_at_signing_time",
        "timestamp",
        "seal_timestamp",
        "document_hash",
        "ofd_references",
        "seal_file",
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "kind": self.kind,
            "version": self.version,
            "signature_id": self.signature_id,
            "signature_path": self.signature_path,
            "seal_name": self.seal_name,
            "seal_type": self.seal_type,
            "es_id": self.es_id,
            "signer_subject": self.signer_subject,
            "signer_organisation": self.signer_organisation,
            "signing_time": iso(self.signing_time),
            "time_basis": self.time_basis,
            "property_info": self.property_info,
            "non_conformities": list(self.non_conformities),
            "checks": _checks_dict(self, self.CHECKS),
            "references": [r.to_dict() for r in self.references],
            "uncovered_files": list(self.uncovered_files),
        }


@dataclass(frozen=True, slots=True)
class OfdVerification:
    """Result of verifying every signature of an OFD package (eseal spec §7.3)."""

    verdict: Verdict
    reason: str
    signatures: tuple[SignatureVerification, ...]
    uncovered_files: tuple[str, ...]  # covered by no signature's References
    non_conformities: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "signatures": [s.to_dict() for s in self.signatures],
            "uncovered_files": list(self.uncovered_files),
            "non_conformities": list(self.non_conformities),
        }
