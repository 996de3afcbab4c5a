"""Ingest of a finished case into the archive (earchive spec §4.1, §7; issue 6 items 1-3).

``ingest_case`` orders the steps, in the caller's transaction:

1. the submission (folder or zip) is copied into a private staging folder, every byte hashed
   once on the way (``archive.submission``); the staging folder is held with an ``flock``
   while the ingest lives, so the inventory sweep can tell a dead ingest's leftovers;
2. concurrent ingests of the same case number are serialised (PostgreSQL advisory transaction
   lock; SQLite writers are serialised by ``BEGIN IMMEDIATE``); an archived (case number,
   version) answers the existing package when ``case.json`` is byte-identical (idempotent
   resubmission) and ``VersionConflict`` otherwise;
3. the DA/T 70 battery (``archive.checks.check_case``, reusing the digests of step 1) plus the
   catalogue checks (``archive.service_catalogue``): any failure refuses the case with every
   failure listed (``IngestRefused``) and nothing is stored;
4. the 档号: the case's own for a later version; for version 1 the one in ``case.json`` or one
   assigned in a short transaction of its own (``archive.service_codes``);
5. the bag is written in staging - the staged originals hard-linked, the evidence
   (``archive.evidence``: reports, certificate chains, timestamp tokens, our CA's CRLs) added -
   its root (SM3 of ``tagmanifest-sm3.txt``) signed with the archive key and timestamped by
   the service TSA;
6. every file is published to the write-once store (hard-linked when it is on the same file
   system), then the catalogue row and the ``archive.ingest`` log leaf are added in the same
   transaction.

A process killed before the commit leaves no catalogue row and no log leaf: the package does not
exist. What it may have left on disk - published objects nobody references, a temporary file of
the store, its staging folder - is removed by the inventory sweep (``archive.inventory``); the
retry writes a new bag.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from archive.bag import StoredBag, WrittenBag
from archive.case import Case, load_case
from archive.checks import check_case
from archive.checks_report import CheckPolicy, CheckReport
from archive.errors import CaseMetadataInvalid
from archive.evidence import CertificatePool, CrlFile, evidence_entries
from archive.ingest import ArchivalRecord, build_case_bag, publish_bag, seal_bag
from archive.model import ArchiveCase, ArchivePackage
from archive.scan import VirusScanner
from archive.service_catalogue import (
    LOCAL_TZ,
    catalogue_items,
    closed_on,
    duplicate_code_item,
    existing_package,
    file_rows,
    metadata_text,
    note_item_name,
    refusal,
    retention_end,
)
from archive.service_codes import bind_case
from archive.service_errors import ArchiveKeyMissing, VersionConflict
from archive.service_records import PackageRecord, package_record
from archive.storage import BlobStore
from archive.submission import IngestProgress, Progress, Submission, normalise_submission
from keys.interfaces import KeyStore, KeyUsage
from seals.ports import TimestampVerifier, TrustEvaluator
from trust.ca import service as ca_service
from trust.clock import Clock
from trust.crypto import sm3, sm3_hex
from trust.crypto.algorithms import OID_SM3
from trust.errors import NotFound, TrustError
from trust.ids import new_id
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent
from trust.tsa.service import timestamp as tsa_timestamp

__all__ = [
    "LOCAL_TZ",
    "ArchiveTools",
    "IngestProgress",
    "Ingested",
    "Progress",
    "ingest_case",
    "retention_end",
]

#: the lock file inside a staging folder, held by the live ingest (``archive.inventory``)
STAGING_OWNER = ".owner"


@dataclass(frozen=True, slots=True)
class ArchiveTools:
    """What an ingest needs besides the session: the store, a staging root on the same file
    system, the seal verifiers' trust answers, virus scanners, the check policy and the
    certificates evidence chains are built from."""

    store: BlobStore
    staging_root: Path
    trust: TrustEvaluator
    timestamps: TimestampVerifier | None = None
    scanners: Sequence[VirusScanner] = ()
    policy: CheckPolicy = field(default_factory=CheckPolicy)
    tsa_policy_oid: str = "1.2.156.112233.1.1"
    certificates: CertificatePool = field(default_factory=CertificatePool)


@dataclass(frozen=True, slots=True)
class Ingested:
    package: PackageRecord
    created: bool  # False: the same submission was archived before (idempotent answer)
    report: dict[str, Any] | None  # the check report of this run (None when idempotent)


def _lock_case(session: Session, case_number: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(sm3(f"archive-case/{case_number}".encode())[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:  # SQLite: the first statement takes the write lock (BEGIN IMMEDIATE)
        session.execute(text("SELECT 1"))


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


def _our_crls(session: Session, clock: Clock, keystore: KeyStore) -> list[CrlFile]:
    """The current CRL of each authority of our CA (none when the CA is not set up)."""
    out: list[CrlFile] = []
    for role in ("issuing", "root"):
        try:
            key_id = ca_service.authority_key_id(session=session, role=role)
            signer = keystore.signer(session=session, key_id=key_id)
            der = ca_service.current_crl(session=session, clock=clock, issuer_signer=signer)
        except TrustError:
            continue
        out.append(CrlFile(f"{role}-ca.crl", der))
    return out


def _hold_staging(staging: Path) -> int:
    fd = os.open(staging / STAGING_OWNER, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


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
    """Check, package, sign, timestamp, store and log one submitted case (module docstring).
    ``progress`` hears each stage (``IngestProgress``), with bytes while copying and storing."""
    step: Progress = progress or (lambda _event: None)
    tools.staging_root.mkdir(parents=True, exist_ok=True)
    staging = tools.staging_root / new_id("stg")
    staging.mkdir()
    owner = _hold_staging(staging)
    submission: Submission | None = None
    try:
        submission = normalise_submission(source, staging, progress=step)
        total = submission.total_bytes
        step(IngestProgress("normalised", total, total))
        return _Ingest(session, clock, keystore, tools, actor, step).run(submission, staging)
    finally:
        if submission is not None:
            submission.close()
        shutil.rmtree(staging, ignore_errors=True)
        os.close(owner)


@dataclass
class _Ingest:
    session: Session
    clock: Clock
    keystore: KeyStore
    tools: ArchiveTools
    actor: str
    step: Progress

    def run(self, submission: Submission, staging: Path) -> Ingested:
        folder = submission.folder
        submission_sm3 = sm3_hex((folder / "case.json").read_bytes())
        try:
            case: Case | None = load_case(folder)
        except CaseMetadataInvalid:
            case = None  # the checks report every metadata problem
        if case is not None:
            _lock_case(self.session, case.case_number)
            done = self._already(case, submission_sm3)
            if done is not None:
                return done
        now = self.clock.now()
        report = check_case(
            folder,
            now=now,
            trust=self.tools.trust,
            scanners=self.tools.scanners,
            timestamps=self.tools.timestamps,
            policy=self.tools.policy,
            digests=submission.digests,
            prescanned=submission.eicar,
            examined=submission.facts,
        )
        if case is not None:
            report = replace(
                report, items=report.items + tuple(catalogue_items(self.session, case))
            )
        self.step(IngestProgress("checked"))
        if case is None or not report.passed:
            raise refusal(report)
        return self._archive(case, report, submission, staging, submission_sm3)

    def _already(self, case: Case, submission_sm3: str) -> Ingested | None:
        existing = existing_package(self.session, case.case_number, case.version)
        if existing is None:
            return None
        if existing.submission_sm3 != submission_sm3:
            raise VersionConflict(
                f"办件 {case.case_number} 第 {case.version} 版已归档，且提交内容不同",
                extra={"archival_code": existing.archival_code},
            )
        return Ingested(package_record(existing), False, None)

    def _code(self, case: Case, report: CheckReport) -> tuple[str, bool]:
        """The case's 档号 and whether the archive assigned it."""
        known = self.session.get(ArchiveCase, case.case_number)
        if known is not None:
            return known.archival_code, known.code_assigned
        code = bind_case(
            session=self.session,
            case_number=case.case_number,
            given_code=case.archival_code,
            fonds=case.fonds,
            year=case.year,
            retention=case.retention.value,
            now=self.clock.now(),
        )
        if code is None:  # taken by another case since the catalogue checks
            raise refusal(replace(report, items=(*report.items, duplicate_code_item())))
        return code, case.archival_code is None

    def _archive(
        self,
        case: Case,
        report: CheckReport,
        submission: Submission,
        staging: Path,
        submission_sm3: str,
    ) -> Ingested:
        s, now = self.session, self.clock.now()
        try:
            signer = self.keystore.active_signer(session=s, usage=KeyUsage.ARCHIVE)
        except NotFound:
            raise ArchiveKeyMissing("没有可用的档案签名密钥（trustctl archive init）") from None
        stamp = _timestamper(s, self.clock, self.keystore, self.tools.tsa_policy_oid)
        code, assigned = self._code(case, report)
        previous = existing_package(s, case.case_number, case.version - 1)
        record = ArchivalRecord(
            code, assigned, now, self.actor, previous.root_sm3 if previous else None
        )
        evidence = evidence_entries(
            report,
            pool=self.tools.certificates,
            crls=_our_crls(s, self.clock, self.keystore),
            now=now,
        )
        bag = build_case_bag(
            submission.folder,
            case,
            report,
            record,
            staging / "bag",
            bagging_date=now.astimezone(LOCAL_TZ).date(),
            evidence=evidence,
            known=submission.digests,
        )
        self.step(IngestProgress("bagged"))
        signature, token = seal_bag(bag, signer=signer, timestamper=stamp, signing_time=now)
        self.step(IngestProgress("staged"))
        stored = publish_bag(bag, self.tools.store, progress=self.step, synced=submission.durable())
        self.step(IngestProgress("published"))
        row = self._record(case, bag, stored, record, submission_sm3, signer.key_id)
        self._log(case, row, record, signature, token, report)
        self.step(IngestProgress("recorded"))
        return Ingested(package_record(row), True, report.to_dict())

    def _record(
        self,
        case: Case,
        bag: WrittenBag,
        stored: StoredBag,
        record: ArchivalRecord,
        submission_sm3: str,
        key_id: str,
    ) -> ArchivePackage:
        row = ArchivePackage(
            id=new_id("arc"),
            case_number=case.case_number,
            version=case.version,
            archival_code=record.archival_code,
            submission_sm3=submission_sm3,
            root_sm3=bag.root_sm3,
            root_sha256=bag.root_sha256,
            previous_root=record.previous_version_root,
            payload_oxum=bag.payload_oxum,
            uncovered=json.dumps([list(u) for u in stored.uncovered]),
            signer_key_id=key_id,
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
            closed_on=closed_on(case),
            metadata_text=metadata_text(case, record.archival_code),
            retention_end=retention_end(case.retention.value, case.year),
            status="active",
            log_index=-1,
            ingested_at=record.ingested_at,
            ingested_by=self.actor,
            file_count=len(bag.payload),
            total_bytes=int(bag.payload_oxum.split(".")[0]),
        )
        self.session.add(row)
        self.session.flush()
        self.session.add_all(file_rows(row.id, bag))
        note_item_name(self.session, case.service_item.code, case.service_item.name)
        return row

    def _log(
        self,
        case: Case,
        row: ArchivePackage,
        record: ArchivalRecord,
        signature: bytes,
        token: bytes,
        report: CheckReport,
    ) -> None:
        appended = tlog.append(
            session=self.session,
            clock=self.clock,
            event=LogEvent(
                kind="archive.ingest",
                subject=row.archival_code,
                actor=self.actor,
                payload={
                    "event": "ingest",
                    "archival_code": row.archival_code,
                    "case_number": case.case_number,
                    "version": case.version,
                    "root_sm3": row.root_sm3,
                    "root_sha256": row.root_sha256,
                    "prev_root": record.previous_version_root,
                    "signature_sm3": sm3_hex(signature),
                    "tsa_token_sm3": sm3_hex(token),
                    "result": report.verdict.value,
                },
            ),
        )
        row.log_index = appended.index
        self.session.flush()
