"""The catalogue side of an ingest (earchive spec §4.1 "uniqueness query for 档号 and 办件编号",
§7.1 versions): the checks that need the database, and the catalogue rows of a new package.

Catalogue checks, added to the DA/T 70 report: the service item's registered material list;
the 档号 - version 1 may bring its own (not used by another case), a later version keeps the
case's (a different one is refused: the code belongs to the case); the previous version is
archived before version n+1.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from archive.bag import WrittenBag
from archive.case import Case
from archive.checks_report import CheckItem, CheckOutcome, CheckReport, Dimension, item
from archive.model import (
    ArchiveCase,
    ArchiveFile,
    ArchiveItemName,
    ArchivePackage,
    ArchiveServiceItem,
)
from archive.service_errors import IngestRefused
from archive.storage import hash_stream

__all__ = [
    "LOCAL_TZ",
    "catalogue_items",
    "closed_on",
    "existing_package",
    "file_rows",
    "metadata_text",
    "note_item_name",
    "refusal",
    "retention_end",
]

LOCAL_TZ: Final = ZoneInfo("Asia/Shanghai")
_YEARS: Final = {"D10": 10, "D30": 30}
AUT, INT = Dimension.AUTHENTICITY, Dimension.INTEGRITY
FAIL, PASS = CheckOutcome.FAIL, CheckOutcome.PASS


def retention_end(retention: str, year: int) -> date | None:
    """Retention counted in whole years after the 年度 (GB/T 18894-2016): ``D30`` of 2026 ends on
    2056-12-31; permanent (``Y``) never ends."""
    years = _YEARS.get(retention)
    return None if years is None else date(year + years, 12, 31)


def existing_package(session: Session, case_number: str, version: int) -> ArchivePackage | None:
    return session.scalars(
        select(ArchivePackage).where(
            ArchivePackage.case_number == case_number, ArchivePackage.version == version
        )
    ).first()


def _material_items(session: Session, case: Case) -> list[CheckItem]:
    row = session.get(ArchiveServiceItem, case.service_item.code)
    if row is None:
        return []
    present = {m.material_code for m in case.materials if m.material_code}
    out = [
        item(
            INT,
            "integrity.catalogue_materials",
            req["code"],
            FAIL,
            "material.catalogue_missing",
            f"事项材料清单要求的材料“{req['name']}”缺失",
        )
        for req in json.loads(row.required_materials)
        if req["mandatory"] and req["code"] not in present
    ]
    return out or [
        item(
            INT,
            "integrity.catalogue_materials",
            row.code,
            PASS,
            "material.catalogue_ok",
            "材料与事项材料清单一致",
        )
    ]


def _code_items(session: Session, case: Case, known: ArchiveCase | None) -> list[CheckItem]:
    if case.archival_code is None:
        return []
    if known is not None:
        if known.archival_code == case.archival_code:
            return []
        return [
            item(
                AUT,
                "authenticity.metadata",
                "archival_code",
                FAIL,
                "metadata.archival_code_changed",
                f"档号属于办件，各版本不变：本办件档号为 {known.archival_code}",
            )
        ]
    taken = session.scalars(
        select(ArchiveCase.case_number).where(ArchiveCase.archival_code == case.archival_code)
    ).first()
    if taken is None:
        return []
    return [duplicate_code_item()]


def duplicate_code_item() -> CheckItem:
    return item(
        AUT,
        "authenticity.metadata",
        "archival_code",
        FAIL,
        "metadata.duplicate_archival_code",
        "档号已被其他办件使用",
    )


def catalogue_items(session: Session, case: Case) -> list[CheckItem]:
    """The checks of ``case`` against the catalogue (module docstring)."""
    known = session.get(ArchiveCase, case.case_number)
    out = _material_items(session, case) + _code_items(session, case, known)
    if case.version > 1 and existing_package(session, case.case_number, case.version - 1) is None:
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


def refusal(report: CheckReport) -> IngestRefused:
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


def closed_on(case: Case) -> date:
    times = [n.time for n in case.nodes]
    last = max(times) if times else datetime(case.year, 1, 1, tzinfo=LOCAL_TZ)
    return last.astimezone(LOCAL_TZ).date()


def metadata_text(case: Case, code: str) -> str:
    parts = [case.case_number, code, case.service_item.name, case.agency.name, case.applicant.name]
    parts += [m.title for m in case.materials]
    if case.decision is not None:
        parts.append(case.decision.number)
    parts += [f"{lic.name} {lic.number}" for lic in case.licences]
    parts += [n.result or "" for n in case.nodes]
    return " ".join(p for p in parts if p)[:20000]


def note_item_name(session: Session, code: str, name: str) -> None:
    """Remember the (item code, name) pair for the item-name search; a pair already there (or
    being added by a concurrent ingest) is left alone, without an error or a savepoint."""
    values = {"item_code": code, "item_name": name}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(ArchiveItemName).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(ArchiveItemName).values(values).on_conflict_do_nothing())


def file_rows(package_id: str, bag: WrittenBag) -> list[ArchiveFile]:
    """One row per file of the bag: payload (digests known) and tag files (small, hashed)."""
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
