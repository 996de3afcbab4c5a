"""Frozen records the archive services return (no ORM objects leave the services), and the
look-up of a package by id, 档号 or case number."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.bag import StoredBag
from archive.model import ArchivePackage
from archive.service_errors import PackageNotFound

__all__ = [
    "PackageRecord",
    "VersionRecord",
    "case_versions",
    "find_package_row",
    "package_record",
    "stored_bag",
]


@dataclass(frozen=True, slots=True)
class PackageRecord:
    id: str
    case_number: str
    version: int
    archival_code: str
    root_sm3: str
    root_sha256: str
    previous_root: str | None
    payload_oxum: str
    fonds: str
    year: int
    retention: str
    classification: str
    item_code: str
    item_name: str
    agency_name: str
    applicant_name: str
    applicant_id_masked: str
    outcome: str
    closed_on: date
    retention_end: date | None
    status: str
    log_index: int
    ingested_at: datetime
    ingested_by: str
    file_count: int
    total_bytes: int
    signer_key_id: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("closed_on", "retention_end", "ingested_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out


def package_record(row: ArchivePackage) -> PackageRecord:
    return PackageRecord(
        id=row.id,
        case_number=row.case_number,
        version=row.version,
        archival_code=row.archival_code,
        root_sm3=row.root_sm3,
        root_sha256=row.root_sha256,
        previous_root=row.previous_root,
        payload_oxum=row.payload_oxum,
        fonds=row.fonds,
        year=row.year,
        retention=row.retention,
        classification=row.classification,
        item_code=row.item_code,
        item_name=row.item_name,
        agency_name=row.agency_name,
        applicant_name=row.applicant_name,
        applicant_id_masked=row.applicant_id_masked,
        outcome=row.outcome,
        closed_on=row.closed_on,
        retention_end=row.retention_end,
        status=row.status,
        log_index=row.log_index,
        ingested_at=row.ingested_at,
        ingested_by=row.ingested_by,
        file_count=row.file_count,
        total_bytes=row.total_bytes,
        signer_key_id=row.signer_key_id,
    )


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One archived version of a case (earchive spec §7.1: AIP id = 档号 + "/v" + n)."""

    version: int
    id: str
    ref: str  # 档号/v<n>
    ingested_at: datetime
    root_sm3: str
    status: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ingested_at"] = self.ingested_at.isoformat()
        return out


def case_versions(session: Session, case_number: str) -> tuple[VersionRecord, ...]:
    """Every archived version of a case, oldest first (disposed ones included, marked so)."""
    p = ArchivePackage
    rows = session.execute(
        select(p.version, p.id, p.archival_code, p.ingested_at, p.root_sm3, p.status)
        .where(p.case_number == case_number)
        .order_by(p.version)
    )
    return tuple(
        VersionRecord(
            version=r.version,
            id=r.id,
            ref=f"{r.archival_code}/v{r.version}",
            ingested_at=r.ingested_at,
            root_sm3=r.root_sm3,
            status=r.status,
        )
        for r in rows
    )


def stored_bag(row: ArchivePackage) -> StoredBag:
    uncovered = tuple((str(name), str(addr)) for name, addr in json.loads(row.uncovered))
    return StoredBag(row.root_sm3, row.root_sha256, row.payload_oxum, uncovered)


def _version_ref(ref: str) -> tuple[str, int] | None:
    """``档号/v2`` -> (档号, 2) (the AIP id of earchive spec §7.1)."""
    code, sep, version = ref.rpartition("/v")
    if sep and code and version.isdigit():
        return code, int(version)
    return None


def find_package_row(session: Session, ref: str) -> ArchivePackage:
    """By package id, ``档号/v<n>``, package root, or the latest version of a 档号 or case
    number."""
    ref = ref.strip()
    p = ArchivePackage
    row = session.get(p, ref)
    versioned = _version_ref(ref) if row is None else None
    if versioned is not None:
        row = session.scalars(
            select(p).where(p.archival_code == versioned[0], p.version == versioned[1])
        ).first()
    if row is None:
        row = session.scalars(select(p).where(p.root_sm3 == ref)).first()
    if row is None:
        row = session.scalars(
            select(p)
            .where((p.archival_code == ref) | (p.case_number == ref))
            .order_by(p.version.desc())
        ).first()
    if row is None:
        raise PackageNotFound(f"没有档案 {ref}")
    return row
