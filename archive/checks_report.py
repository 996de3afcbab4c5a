"""The DA/T 70-2018 four-properties check report (earchive spec §4): items, policy, verdict.

Each ``CheckItem`` answers one question about one subject (a file, a field, the package) in one
dimension - 真实性 authenticity, 完整性 integrity, 可用性 usability, 安全性 security - with an
outcome, a stable reason code and a Chinese message for the report page. The report keeps
every item (a failing case lists every failure, not the first) and the seal verification
reports as evidence. The verdict fails closed: any FAIL fails the report; an item that could not
be checked and is ``blocking`` (policy) makes it INCOMPLETE; only otherwise PASSED.
DA/T 70 item numbering (GD-1-1 …) is not reproduced: [verify] against the official text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from archive.checks_files import FileFacts
from archive.scan import ScanResult

__all__ = [
    "DEFAULT_ALLOWED_FORMATS",
    "CheckItem",
    "CheckOutcome",
    "CheckPolicy",
    "CheckReport",
    "Dimension",
    "ReportVerdict",
    "SealEvidence",
    "Stage",
    "item",
]

#: DA/T 47-2009 / GB/T 18894-2016 long-term formats (earchive spec §4.1, §5.1)
DEFAULT_ALLOWED_FORMATS: Final = frozenset(
    {"ofd", "pdf", "pdfa", "jpeg", "png", "tiff", "xml", "mp4", "mp3", "wav"}
)


class Dimension(StrEnum):
    AUTHENTICITY = "authenticity"
    INTEGRITY = "integrity"
    USABILITY = "usability"
    SECURITY = "security"

    @property
    def label(self) -> str:
        return {
            "authenticity": "真实性",
            "integrity": "完整性",
            "usability": "可用性",
            "security": "安全性",
        }[self.value]


class Stage(StrEnum):
    INGEST = "GD"  # 归档
    TRANSFER = "YJ"  # 移交接收
    PRESERVATION = "BC"  # 长期保存


class CheckOutcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    NOT_AVAILABLE = "not_available"  # applicable but could not be decided: never a pass
    NOT_APPLICABLE = "not_applicable"


class ReportVerdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"  # no failure, but a blocking check could not be done


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """What the ingest accepts. Every value is written out (layout.md §4 rule 3)."""

    allowed_formats: frozenset[str] = DEFAULT_ALLOWED_FORMATS
    #: a virus scanner that is not available (no ClamAV, no database) blocks ingest
    block_when_scanner_unavailable: bool = True
    #: a seal that verifies but chains to no configured anchor blocks ingest
    require_trusted_seals: bool = True
    #: approval (准予 / 部分准予) must come with at least one licence
    licence_required_on_approval: bool = True
    #: 送达 must be recorded for decided cases
    delivery_node_required: bool = True
    #: formats without a decoder here (audio, video) block ingest when True
    block_when_render_unavailable: bool = False
    #: largest PDF/OFD/SES file read into memory for seal verification
    max_verify_bytes: int = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CheckItem:
    dimension: Dimension
    check: str  # stable check id, e.g. "integrity.digest"
    subject: str  # file name, metadata path or "package"
    outcome: CheckOutcome
    reason: str  # stable reason code, e.g. "digest.mismatch"
    message: str  # Chinese, for the report page
    detail: str = ""
    blocking: bool = True  # only meaningful for NOT_AVAILABLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension.value,
            "dimension_label": self.dimension.label,
            "check": self.check,
            "subject": self.subject,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "message": self.message,
            "detail": self.detail,
            "blocking": self.blocking,
        }


def item(
    dimension: Dimension,
    check: str,
    subject: str,
    outcome: CheckOutcome,
    reason: str,
    message: str,
    detail: str = "",
    *,
    blocking: bool = True,
) -> CheckItem:
    return CheckItem(dimension, check, subject, outcome, reason, message, detail, blocking)


@dataclass(frozen=True, slots=True)
class SealEvidence:
    """One signature or seal's verification report and the material to re-check it later
    (earchive spec §1: certificates, timestamps), kept under ``evidence/seals/<file>/``."""

    subject: str  # the file that carries (or is) the seal
    index: int  # signature number within the file, from 0
    kind: str  # "pdf", "ofd", "ses_signature", "seal"
    verdict: str
    report_json: str = field(repr=False)  # canonical JSON of the verifier's own report
    #: every certificate the signature carries (DER): the pool its chains are built from
    certificates: tuple[bytes, ...] = field(default=(), repr=False)
    signer_certificate: bytes | None = field(default=None, repr=False)  # 签章人 / signer
    maker_certificate: bytes | None = field(default=None, repr=False)  # 制章人 (SES seals)
    #: RFC 3161 / GB/T 20520 tokens: ("signature", token over the signature value) and
    #: ("seal", the v5 seal's token over the maker's signature)
    timestamps: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    signing_time: datetime | None = None

    def report(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.report_json)
        return loaded


@dataclass(frozen=True, slots=True)
class CheckReport:
    stage: Stage
    case_number: str | None
    checked_at: datetime
    tool: str
    items: tuple[CheckItem, ...]
    seals: tuple[SealEvidence, ...] = ()
    scans: tuple[ScanResult, ...] = ()
    files: tuple[FileFacts, ...] = ()

    @property
    def verdict(self) -> ReportVerdict:
        if not self.items or any(i.outcome is CheckOutcome.FAIL for i in self.items):
            return ReportVerdict.FAILED  # an empty report checked nothing: fail closed
        if any(i.outcome is CheckOutcome.NOT_AVAILABLE and i.blocking for i in self.items):
            return ReportVerdict.INCOMPLETE
        return ReportVerdict.PASSED

    @property
    def passed(self) -> bool:
        return self.verdict is ReportVerdict.PASSED

    @property
    def failures(self) -> tuple[CheckItem, ...]:
        return tuple(i for i in self.items if i.outcome is CheckOutcome.FAIL)

    @property
    def unavailable(self) -> tuple[CheckItem, ...]:
        return tuple(i for i in self.items if i.outcome is CheckOutcome.NOT_AVAILABLE)

    def reasons(self) -> set[tuple[str, str]]:
        """``(subject, reason)`` of every failure (convenient in tests and logs)."""
        return {(i.subject, i.reason) for i in self.failures}

    def to_dict(self) -> dict[str, Any]:
        return {
            "standard": "DA/T 70-2018",
            "stage": self.stage.value,
            "case_number": self.case_number,
            "checked_at": self.checked_at.isoformat(),
            "tool": self.tool,
            "verdict": self.verdict.value,
            "summary": {
                d.value: {
                    o.value: sum(1 for i in self.items if i.dimension is d and i.outcome is o)
                    for o in CheckOutcome
                }
                for d in Dimension
            },
            "items": [i.to_dict() for i in self.items],
            "seals": [
                {"subject": s.subject, "index": s.index, "kind": s.kind, "verdict": s.verdict}
                for s in self.seals
            ],
            "virus_scans": [s.to_dict() for s in self.scans],
            "virus_scanners_ran": [s.engine for s in self.scans if s.ran],
            "virus_scanners_not_available": [s.engine for s in self.scans if not s.ran],
            "files": [f.to_dict() for f in self.files],
        }

    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, UTF-8): the bytes archived as
        ``metadata/preservation/four-properties-report.json``."""
        return json.dumps(
            self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode()
