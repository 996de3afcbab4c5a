"""DA/T 70-2018 four-properties checks of one submitted case (earchive spec §4.1, ingest GD).

``check_case(folder, ...)`` runs the whole battery over a submission folder (``case.json`` +
``files/``, see ``archive.case``) and returns a ``CheckReport`` listing **every** finding:

- 真实性 authenticity: package structure; metadata formats and value sets (the parser's problems,
  one item each) and consistency; metadata ↔ content links both ways; file properties read from
  the bytes (size, format by magic, pages) equal the metadata; every seal and signature verified
  by the seals verifiers, reports kept (``archive.checks_seals``);
- 完整性 integrity: SM3 per file, register counts and bytes, 件内序号, processing nodes complete
  and ordered, mandatory materials, decision sealed, licence on approval (``archive.checks_rules``);
- 可用性 usability: ``case.json`` readable; allow-listed formats; every file opens and its first
  page decodes; no encryption (``archive.checks_files``);
- 安全性 security: the built-in EICAR detector always, plus the configured ``VirusScanner``s; a
  scanner that is not available is reported as such, blocking by policy (``archive.scan``).

Pure: reads the folder, no database, no network. Uniqueness of 档号 / 办件编号 across the archive
needs the catalogue and belongs to the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Final

from archive.case import Case, load_case
from archive.checks_files import FileFacts, examine, read_capped
from archive.checks_report import (
    DEFAULT_ALLOWED_FORMATS,
    CheckItem,
    CheckOutcome,
    CheckPolicy,
    CheckReport,
    Dimension,
    ReportVerdict,
    SealEvidence,
    Stage,
    item,
)
from archive.checks_rules import (
    detached_index,
    file_property_items,
    integrity_items,
    metadata_items,
    usability_items,
)
from archive.checks_seals import SealFindings, merge, verify_detached, verify_document_seals
from archive.errors import CaseMetadataInvalid
from archive.scan import EicarDetector, ScanResult, ScanStatus, VirusScanner
from archive.storage import Digests
from seals.ports import TimestampVerifier, TrustEvaluator

__all__ = [
    "DEFAULT_ALLOWED_FORMATS",
    "TOOL",
    "CheckItem",
    "CheckOutcome",
    "CheckPolicy",
    "CheckReport",
    "Dimension",
    "ReportVerdict",
    "SealEvidence",
    "Stage",
    "check_case",
]

TOOL: Final = "ywtb-trust archive.checks/1"
A, U, S = Dimension.AUTHENTICITY, Dimension.USABILITY, Dimension.SECURITY
PASS, FAIL, NA = CheckOutcome.PASS, CheckOutcome.FAIL, CheckOutcome.NOT_AVAILABLE


def _load(folder: Path) -> tuple[Case | None, list[CheckItem]]:
    try:
        case = load_case(folder)
    except CaseMetadataInvalid as exc:
        problems = exc.extra.get("problems") or []
        if not problems:  # unreadable as a whole: not JSON, not UTF-8, missing
            bad = item(
                U,
                "usability.metadata_readable",
                "case.json",
                FAIL,
                exc.code,
                "元数据文件无法读取",
                exc.detail,
            )
            return None, [bad]
        readable = item(
            U, "usability.metadata_readable", "case.json", PASS, "metadata.readable", "元数据可读"
        )
        wrong = [
            item(
                A, "authenticity.metadata", p["path"] or "case.json", FAIL, p["code"], p["message"]
            )
            for p in problems
        ]
        return None, [readable, *wrong]
    return case, [
        item(U, "usability.metadata_readable", "case.json", PASS, "metadata.readable", "元数据可读")
    ]


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name (surrogate escapes)
        return False
    return True


def _structure(folder: Path) -> tuple[list[str], list[CheckItem]]:
    check, out = "authenticity.package_structure", []
    for entry in sorted(folder.iterdir()):
        if entry.name not in ("case.json", "files") or entry.is_symlink():
            out.append(
                item(
                    A,
                    check,
                    entry.name,
                    FAIL,
                    "structure.unexpected_entry",
                    "提交包中有多余的文件或目录",
                )
            )
    files_dir = folder / "files"
    names: list[str] = []
    if not files_dir.is_dir() or files_dir.is_symlink():
        out.append(
            item(A, check, "files", FAIL, "structure.no_files_folder", "提交包缺少 files 目录")
        )
        return names, out
    for entry in sorted(files_dir.iterdir()):
        if not _utf8(entry.name):
            shown = entry.name.encode("utf-8", "backslashreplace").decode()
            out.append(item(A, check, shown, FAIL, "structure.bad_file_name", "文件名不是 UTF-8"))
        elif entry.is_symlink() or not entry.is_file():
            out.append(
                item(
                    A,
                    check,
                    entry.name,
                    FAIL,
                    "structure.not_a_regular_file",
                    "files 中只允许普通文件",
                )
            )
        else:
            names.append(entry.name)
    return names, out or [item(A, check, "package", PASS, "structure.ok", "提交包结构符合规定")]


def _links(case: Case, present: Sequence[str]) -> list[CheckItem]:
    check, out = "authenticity.metadata_content_link", []
    named = set(case.file_names())
    for name in sorted(named - set(present)):
        out.append(item(A, check, name, FAIL, "link.missing_file", "元数据所列文件不存在"))
    for name in sorted(set(present) - named):
        out.append(item(A, check, name, FAIL, "link.unreferenced_file", "文件未在元数据中登记"))
    return out or [item(A, check, "files", PASS, "link.ok", "元数据与文件一一对应")]


def _too_large(name: str) -> SealFindings:
    miss = item(
        A, "authenticity.seal", name, NA, "seal.too_large_to_verify", "文件过大，未能验证签章"
    )
    return SealFindings((miss,), (), 0, 0)


def _seals(
    folder: Path,
    case: Case | None,
    facts: Mapping[str, FileFacts],
    *,
    trust: TrustEvaluator,
    now: datetime,
    timestamps: TimestampVerifier | None,
    policy: CheckPolicy,
) -> dict[str, SealFindings]:
    out: dict[str, SealFindings] = {}
    files = folder / "files"
    for name, f in sorted(facts.items()):
        if f.probe.format not in ("pdf", "pdfa", "ofd") or f.probe.opens is False:
            continue  # a document that does not open already fails (usability.opens)
        data = read_capped(files / name, policy.max_verify_bytes)
        out[name] = (
            _too_large(name)
            if data is None
            else verify_document_seals(
                name,
                f.probe.format,
                data,
                trust=trust,
                now=now,
                timestamps=timestamps,
                policy=policy,
            )
        )
    for m in case.materials if case is not None else ():
        for d in m.detached:
            if d.file not in facts:
                continue
            data = read_capped(files / d.file, policy.max_verify_bytes)
            original = (
                read_capped(files / m.file, policy.max_verify_bytes) if m.file in facts else None
            )
            found = (
                _too_large(d.file)
                if data is None
                else verify_detached(
                    d.file,
                    d.kind.value,
                    data,
                    original=original,
                    covers=m.file,
                    trust=trust,
                    now=now,
                    timestamps=timestamps,
                    policy=policy,
                )
            )
            # a detached signature seals the material it covers
            out[m.file] = merge([out[m.file], found]) if m.file in out else found
            out.setdefault(d.file, SealFindings((), (), 0, 0))
    return out


def _scan_items(results: Sequence[ScanResult], policy: CheckPolicy) -> list[CheckItem]:
    out: list[CheckItem] = []
    check = "security.virus"
    for r in results:
        label = f"{r.engine} {r.engine_version or ''}".strip()
        if r.status is ScanStatus.CLEAN:
            out.append(
                item(
                    S,
                    check,
                    r.engine,
                    PASS,
                    r.reason,
                    f"病毒检测通过（{label}）",
                    f"db {r.database_version}",
                )
            )
        elif r.status is ScanStatus.INFECTED:
            for f in r.findings:
                out.append(
                    item(
                        S,
                        check,
                        f.path,
                        FAIL,
                        "virus.found",
                        f"检出病毒或测试特征：{f.signature}",
                        label,
                    )
                )
        elif r.status is ScanStatus.NOT_AVAILABLE:
            # a required (configured) scanner that is missing blocks by policy; an optional
            # one ("if installed") is reported, not blocking
            blocking = policy.block_when_scanner_unavailable and r.required
            what = "必需的" if r.required else "可选的"
            out.append(
                item(
                    S,
                    check,
                    r.engine,
                    NA,
                    r.reason,
                    f"{what}病毒检测不可用（{label}）",
                    r.detail,
                    blocking=blocking,
                )
            )
        else:
            out.append(item(S, check, r.engine, NA, r.reason, f"病毒检测出错（{label}）", r.detail))
    return out


_PROBE_THREADS: Final = 4


def _examine_all(
    folder: Path,
    present: Sequence[str],
    known: Mapping[str, Digests],
    examined: Mapping[str, FileFacts],
) -> dict[str, FileFacts]:
    """Probe every file not ``examined`` yet, a few at a time (image and PDF decoding release
    the GIL in part)."""

    def one(name: str) -> tuple[str, FileFacts]:
        return name, examine(folder / "files" / name, name, digests=known.get(name))

    facts = {n: examined[n] for n in present if n in examined}
    todo = [n for n in present if n not in facts]
    if len(todo) < 8:
        facts.update(one(n) for n in todo)
        return facts
    with ThreadPoolExecutor(max_workers=_PROBE_THREADS, thread_name_prefix="probe") as pool:
        facts.update(pool.map(one, todo))
    return facts


def check_case(
    folder: Path,
    *,
    now: datetime,
    trust: TrustEvaluator,
    scanners: Sequence[VirusScanner] = (),
    timestamps: TimestampVerifier | None = None,
    policy: CheckPolicy | None = None,
    stage: Stage = Stage.INGEST,
    digests: Mapping[str, Digests] | None = None,
    prescanned: Mapping[str, bool] | None = None,
    examined: Mapping[str, FileFacts] | None = None,
) -> CheckReport:
    """Run every DA/T 70 check over the submission ``folder``; never raises on bad content.
    ``digests`` of ``files/<name>``, the built-in EICAR search (``prescanned``) and the file
    probes (``examined``), all computed while staging, spare a second read of the bytes."""
    policy = policy or CheckPolicy()
    folder = Path(folder)
    case, items = _load(folder)
    present, structure = _structure(folder)
    items += structure
    facts = _examine_all(folder, present, digests or {}, examined or {})
    seals = _seals(folder, case, facts, trust=trust, now=now, timestamps=timestamps, policy=policy)
    if case is not None:
        items += _links(case, present)
        items += metadata_items(case, now)
        items += file_property_items(case, facts)
    items += [i for name in sorted(seals) for i in seals[name].items]
    if case is not None:
        items += integrity_items(case, facts, seals, policy)
    items += usability_items(facts, detached_index(case.materials) if case else {}, policy)
    all_scanners: list[VirusScanner] = [EicarDetector(prescanned)]
    all_scanners += [s for s in scanners if not isinstance(s, EicarDetector)]
    scans = tuple(s.scan(folder / "files", present) for s in all_scanners)
    items += _scan_items(scans, policy)
    return CheckReport(
        stage=stage,
        case_number=case.case_number if case else None,
        checked_at=now,
        tool=TOOL,
        items=tuple(items),
        seals=tuple(e for name in sorted(seals) for e in seals[name].evidence),
        scans=scans,
        files=tuple(facts[n] for n in sorted(facts)),
    )
