"""Ingest of a finished case into the archive (earchive spec §4.1, §7; issue 6 items 1-3).

``ingest_case`` orders the steps, in the caller's transaction:

1. the submission (folder or zip) is normalised into a private staging folder;
2. concurrent ingests of the same case number and version are serialised (PostgreSQL advisory
   transaction lock; SQLite writers are serialised by ``BEGIN IMMEDIATE``); an archived
   (case number, version) answers the existing package when ``case.json`` is byte-identical
   (idempotent resubmission) and ``VersionConflict`` otherwise;
3. the DA/T 70 battery (``archive.checks.check_case``) plus the catalogue checks (the service
   item's registered material list, 档号 uniqueness, the previous version): any failure refuses
   the case with every failure listed (``IngestRefused``) and nothing is stored;
4. the 档号 is taken from ``case.json`` or assigned (``fonds-WS·year·retention-件号``, the 件号 from
   a counter row);
5. the bag is written in staging, its root (SM3 of ``tagmanifest-sm3.txt``) signed with the
   archive key and timestamped by the service TSA;
6. every file is published to the write-once store (content-addressed), then the catalogue row
   and the ``archive.ingest`` log leaf are added in the same transaction.

A process killed before the commit leaves no catalogue row and no log leaf: the package does not
exist. Objects it may already have published are unreferenced content-addressed blobs (the
inventory sweep in ``archive.preservation`` names them); the retry writes a new bag.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from archive.bag import WrittenBag
from archive.case import Case, load_case
from archive.checks import check_case
from archive.checks_report import (
    CheckItem,
    CheckOutcome,
    CheckPolicy,
    CheckReport,
    Dimension,
    item,
)
from archive.errors import CaseMetadataInvalid
from archive.ingest import (
    ArchivalRecord,
    build_case_bag,
    normalise_submission,
    publish_bag,
    seal_bag,
)
from archive.model import ArchiveCodeCounter, ArchiveFile, ArchivePackage, ArchiveServiceItem
from archive.scan import VirusScanner
from archive.service_errors import ArchiveKeyMissing, IngestRefused, VersionConflict
from archive.service_records import PackageRecord, package_record
from archive.storage import BlobStore, hash_stream
from keys.interfaces import KeyStore, KeyUsage
from seals.ports import TimestampVerifier, TrustEvaluator
from trust.clock import Clock
from trust.crypto import sm3, sm3_hex
from trust.crypto.algorithms import OID_SM3
from trust.errors import NotFound
from trust.ids import new_id
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent
from trust.tsa.service import timestamp as tsa_timestamp

__all__ = [
    "ArchiveTools",
    "Ingested",
    "ingest_case",
    "retention_end",
]

LOCAL_TZ: Final = ZoneInfo("Asia/Shanghai")
_YEARS: Final = {"D10": 10, "D30": 30}
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ArchiveTools:
    """What an ingest needs besides the session: the store, a staging root on the same file
    system, the seal verifiers' trust answers, virus scanners and the check policy."""

    store: BlobStore
    staging_root: Path
    trust: TrustEvaluator
    timestamps: TimestampVerifier | None = None
    scanners: Sequence[VirusScanner] = ()
    policy: CheckPolicy = field(default_factory=CheckPolicy)
    tsa_policy_oid: str = "1.2.156.112233.1.1"


@dataclass(frozen=True, slots=True)
class Ingested:
    package: PackageRecord
    created: bool  # False: the same submission was archived before (idempotent answer)
    report: dict[str, Any] | None  # the check report of this run (None when idempotent)


def retention_end(retention: str, year: int) -> date | None:
    """Retention counted in whole years after the 年度 (GB/T 18894-2016): ``D30`` of 2026 ends on
    2056-12-31; permanent (``Y``) never ends."""
    years = _YEARS.get(retention)
    return None if years is None else date(year + years, 12, 31)


def _lock_case(session: Session, case_number: str, version: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(sm3(f"{case_number}/{version}".encode())[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:  # SQLite: the first statement takes the write lock (BEGIN IMMEDIATE)
        session.execute(text("SELECT 1"))


def _existing(session: Session, case_number: str, version: int) -> ArchivePackage | None:
    return session.scalars(
        select(ArchivePackage).where(
            ArchivePackage.case_number == case_number, ArchivePackage.version == version
        )
    ).first()


AUT, INT = Dimension.AUTHENTICITY, Dimension.INTEGRITY
FAIL, PASS = CheckOutcome.FAIL, CheckOutcome.PASS


def _catalogue_items(session: Session, case: Case) -> list[CheckItem]:
    out: list[CheckItem] = []
    row = session.get(ArchiveServiceItem, case.service_item.code)
    if row is not None:
        present = {m.material_code for m in case.materials if m.material_code}
        for req in json.loads(row.required_materials):
            if req["mandatory"] and req["code"] not in present:
                out.append(
                    item(
                        INT,
                        "integrity.catalogue_materials",
                        req["code"],
                        FAIL,
                        "material.catalogue_missing",
                        f"事项材料清单要求的材料“{req['name']}”缺失",
                    )
                )
        if not out:
            out.append(
                item(
                    INT,
                    "integrity.catalogue_materials",
                    row.code,
                    PASS,
                    "material.catalogue_ok",
                    "材料与事项材料清单一致",
                )
            )
    if case.archival_code is not None:
        taken = session.scalars(
            select(ArchivePackage).where(ArchivePackage.archival_code == case.archival_code)
        ).first()
        if taken is not None and taken.case_number != case.case_number:
            out.append(
                item(
                    AUT,
                    "authenticity.metadata",
                    "archival_code",
                    FAIL,
                    "metadata.duplicate_archival_code",
                    "档号已被其他办件使用",
                )
            )
    if case.version > 1 and _existing(session, case.case_number, case.version - 1) is None:
        out.append(
            item(
                INT,
                "integrity.version_chain",
                "version",
                FAIL,
                "version.previous_missing",
                "前一版本尚未归档",
            )
        )
    return out


def _assign_code(session: Session, case: Case) -> str:
    key = (case.fonds, case.year, case.retention.value)
    counter = session.get(ArchiveCodeCounter, key, with_for_update=True)
    if counter is None:
        counter = ArchiveCodeCounter(
            fonds=case.fonds, year=case.year, retention=case.retention.value, last=0
        )
        session.add(counter)
    while True:
        counter.last += 1
        code = f"{case.fonds}-WS·{case.year}·{case.retention.value}-{counter.last:04d}"
        clash = session.scalars(
            select(ArchivePackage.id).where(ArchivePackage.archival_code == code)
        ).first()
        if clash is None:
            session.flush()
            return code


def _refuse(report: CheckReport) -> IngestRefused:
    failures = [i.to_dict() for i in report.failures]
    failures += [i.to_dict() for i in report.unavailable if i.blocking]
    return IngestRefused(
        f"归档检测未通过：{len(failures)} 项不符合",
        extra={
            "verdict": report.verdict.value,
            "failures": failures,
            "report": report.to_dict(),
        },
    )


def _closed_on(case: Case) -> date:
    times = [n.time for n in case.nodes]
    last = max(times) if times else datetime(case.year, 1, 1, tzinfo=LOCAL_TZ)
    return last.astimezone(LOCAL_TZ).date()


def _metadata_text(case: Case, code: str) -> str:
    parts = [case.case_number, code, case.service_item.name, case.agency.name, case.applicant.name]
    parts += [m.title for m in case.materials]
    if case.decision is not None:
        parts.append(case.decision.number)
    parts += [f"{lic.name} {lic.number}" for lic in case.licences]
    parts += [n.result or "" for n in case.nodes]
    return " ".join(p for p in parts if p)[:20000]


def _file_rows(package_id: str, bag: WrittenBag) -> list[ArchiveFile]:
    rows = [
        ArchiveFile(package_id=package_id, path=p, sm3=d.sm3, sha256=d.sha256, size=d.size)
        for p, d in bag.payload
    ]
    for entry in sorted(bag.path.iterdir()):
        if entry.is_file():
            with open(entry, "rb") as fh:
                d = hash_stream(fh)
            rows.append(
                ArchiveFile(
                    package_id=package_id, path=entry.name, sm3=d.sm3, sha256=d.sha256, size=d.size
                )
            )
    return rows


def _report_with(report: CheckReport, extra: list[CheckItem]) -> CheckReport:
    return replace(report, items=report.items + tuple(extra))


def _timestamper(
    session: Session, clock: Clock, keystore: KeyStore, policy_oid: str
) -> Callable[[bytes], bytes]:
    tsa = keystore.active_signer(session=session, usage=KeyUsage.TIMESTAMP)

    def stamp(root: bytes) -> bytes:
        return tsa_timestamp(
            clock=clock,
            signer=tsa,
            digest_algorithm_oid=OID_SM3,
            digest=root,
            policy_oid=policy_oid,
        )

    return stamp


def ingest_case(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    tools: ArchiveTools,
    source: Path,
    actor: str,
    progress: Progress | None = None,
) -> Ingested:
    """Check, package, sign, timestamp, store and log one submitted case (module docstring)."""
    step = progress or (lambda _stage: None)
    tools.staging_root.mkdir(parents=True, exist_ok=True)
    staging = tools.staging_root / new_id("stg")
    staging.mkdir()
    try:
        folder = normalise_submission(source, staging)
        submission_sm3 = sm3_hex((folder / "case.json").read_bytes())
        step("normalised")
        return _ingest(
            session, clock, keystore, tools, folder, staging, submission_sm3, actor, step
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ingest(
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    tools: ArchiveTools,
    folder: Path,
    staging: Path,
    submission_sm3: str,
    actor: str,
    step: Progress,
) -> Ingested:
    try:
        case: Case | None = load_case(folder)
    except CaseMetadataInvalid:
        case = None  # the checks report every metadata problem
    if case is not None:
        _lock_case(session, case.case_number, case.version)
        existing = _existing(session, case.case_number, case.version)
        if existing is not None:
            if existing.submission_sm3 != submission_sm3:
                raise VersionConflict(
                    f"办件 {case.case_number} 第 {case.version} 版已归档，且提交内容不同",
                    extra={"archival_code": existing.archival_code},
                )
            return Ingested(package_record(existing), False, None)
    now = clock.now()
    report = check_case(
        folder,
        now=now,
        trust=tools.trust,
        scanners=tools.scanners,
        timestamps=tools.timestamps,
        policy=tools.policy,
    )
    if case is not None:
        report = _report_with(report, _catalogue_items(session, case))
    step("checked")
    if case is None or not report.passed:
        raise _refuse(report)
    try:
        signer = keystore.active_signer(session=session, usage=KeyUsage.ARCHIVE)
    except NotFound:
        raise ArchiveKeyMissing("没有可用的档案签名密钥（trustctl archive init）") from None
    stamp = _timestamper(session, clock, keystore, tools.tsa_policy_oid)
    code = case.archival_code or _assign_code(session, case)
    previous = _existing(session, case.case_number, case.version - 1)
    record = ArchivalRecord(
        code, case.archival_code is None, now, actor, previous.root_sm3 if previous else None
    )
    bag = build_case_bag(
        folder, case, report, record, staging / "bag", bagging_date=now.astimezone(LOCAL_TZ).date()
    )
    step("bagged")
    signature, token = seal_bag(bag, signer=signer, timestamper=stamp, signing_time=now)
    step("staged")
    stored = publish_bag(bag, tools.store)
    step("published")
    package_id = new_id("arc")
    row = ArchivePackage(
        id=package_id,
        case_number=case.case_number,
        version=case.version,
        archival_code=code,
        submission_sm3=submission_sm3,
        root_sm3=stored.root_sm3,
        root_sha256=stored.root_sha256,
        previous_root=record.previous_version_root,
        payload_oxum=stored.payload_oxum,
        uncovered=json.dumps([list(u) for u in stored.uncovered]),
        signer_key_id=signer.key_id,
        fonds=case.fonds,
        year=case.year,
        retention=case.retention.value,
        classification=case.classification.value,
        item_code=case.service_item.code,
        item_name=case.service_item.name,
        agency_name=case.agency.name,
        applicant_name=case.applicant.name,
        applicant_id_masked=case.applicant.masked_id(),
        outcome=case.outcome.value,
        closed_on=_closed_on(case),
        metadata_text=_metadata_text(case, code),
        retention_end=retention_end(case.retention.value, case.year),
        status="active",
        log_index=-1,
        ingested_at=now,
        ingested_by=actor,
        file_count=len(bag.payload),
        total_bytes=int(bag.payload_oxum.split(".")[0]),
    )
    session.add(row)
    session.flush()
    session.add_all(_file_rows(package_id, bag))
    appended = tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind="archive.ingest",
            subject=code,
            actor=actor,
            payload={
                "event": "ingest",
                "archival_code": code,
                "case_number": case.case_number,
                "version": case.version,
                "root_sm3": stored.root_sm3,
                "root_sha256": stored.root_sha256,
                "prev_root": record.previous_version_root,
                "signature_sm3": sm3_hex(signature),
                "tsa_token_sm3": sm3_hex(token),
                "result": report.verdict.value,
            },
        ),
    )
    row.log_index = appended.index
    session.flush()
    step("committed")
    return Ingested(package_record(row), True, report.to_dict())
