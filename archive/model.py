"""Tables of the electronic archive (earchive spec §7, §8): the cases with their 档号, the
catalogue of packages (one per case version), their files, service items with their material
lists, 件号 counters, chunked uploads, fixity runs, access records, disposal requests and
transfers (移交) with their receipts.

The packages themselves live in the write-once ``BlobStore``; the catalogue holds what is needed
to find, show and re-check them: the package root (SM3 of ``tagmanifest-sm3.txt``), the
addresses of the tag files outside the manifests (signature, timestamp), the transparency-log
index of the ingest leaf, and a few indexed fields for search. Personal data in the index is
limited to the applicant's name and a masked id number.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = [
    "ArchiveAccess",
    "ArchiveCase",
    "ArchiveCodeCounter",
    "ArchiveDisposal",
    "ArchiveFile",
    "ArchiveFixityRun",
    "ArchiveItemName",
    "ArchivePackage",
    "ArchiveServiceItem",
    "ArchiveTransfer",
    "ArchiveUpload",
]

_STATUS_SQL = "'active', 'appraisal', 'disposed'"
#: the trigram operator class of ``pg_trgm``, installed in schema ``public`` (the migration
#: uses the schema the extension is actually in; tests and benches run with a private
#: ``search_path``, so the name is qualified)
TRGM_OPS = "public.gin_trgm_ops"


def _substring_index(name: str, column: str) -> Index:
    """A ``pg_trgm`` GIN index for ``LIKE '%x%'`` on PostgreSQL (x of 3 characters or more).
    SQLite has no trigram index and scans (fine at its scales): there the index is an empty
    partial one (``WHERE 0``), which costs nothing and keeps the schema the same on both."""
    return Index(
        name,
        column,
        postgresql_using="gin",
        postgresql_ops={column: TRGM_OPS},
        sqlite_where=text("0"),
    )


class ArchiveCase(Base):
    """One case (办件): the 档号 (DA/T 13-2022) belongs to the case, not to a version, so every
    version keeps it (earchive spec §7.1: AIP id = 档号 + "/v" + n)."""

    __tablename__ = "archive_case"
    __table_args__ = (UniqueConstraint("case_number", "archival_code", name="number_code"),)

    case_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    archival_code: Mapped[str] = mapped_column(String(100), unique=True)
    #: True: the archive gave the 档号 (件号 from the counter); False: the business system did
    code_assigned: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ArchivePackage(Base):
    """One archival information package: one case (办件) × one version."""

    __tablename__ = "archive_package"
    __table_args__ = (
        UniqueConstraint("case_number", "version", name="case_version"),
        ForeignKeyConstraint(
            ["case_number", "archival_code"],
            ["archive_case.case_number", "archive_case.archival_code"],
        ),
        CheckConstraint(f"status IN ({_STATUS_SQL})", name="status_known"),
        CheckConstraint("retention IN ('Y', 'D30', 'D10')", name="retention_known"),
        Index("ix_archive_package_archival_code", "archival_code", "version"),
        Index("ix_archive_package_fixity_due", "status", "last_fixity_at"),
        # search (``archive.retrieval``): results come newest 办结 first, keyset-paged on
        # (closed_on, id); an item's cases are read in that order from its own index
        Index("ix_archive_package_closed_on", "closed_on", "id"),
        Index("ix_archive_package_item_code", "item_code", "closed_on", "id"),
        _substring_index("ix_archive_package_applicant_trgm", "applicant_name"),
        _substring_index("ix_archive_package_text_trgm", "metadata_text"),
        Index("ix_archive_package_status_retention_end", "status", "retention_end"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    #: the case's 档号, the same for every version (``ArchiveCase``)
    archival_code: Mapped[str] = mapped_column(String(100))
    #: SM3 of the submitted case.json: what makes a resubmission "the same"
    submission_sm3: Mapped[str] = mapped_column(String(64))
    root_sm3: Mapped[str] = mapped_column(String(64), unique=True)
    root_sha256: Mapped[str] = mapped_column(String(64))
    previous_root: Mapped[str | None] = mapped_column(String(64))
    payload_oxum: Mapped[str] = mapped_column(String(40))
    #: JSON list of [tag file name, address] for tag files in no manifest (seal, timestamp)
    uncovered: Mapped[str] = mapped_column(Text)
    signer_key_id: Mapped[str] = mapped_column(String(80))
    fonds: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    retention: Mapped[str] = mapped_column(String(4))
    classification: Mapped[str] = mapped_column(String(16))
    item_code: Mapped[str] = mapped_column(String(64))
    item_name: Mapped[str] = mapped_column(String(200))
    agency_name: Mapped[str] = mapped_column(String(200))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_id_masked: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(32))
    closed_on: Mapped[date] = mapped_column(Date)
    #: titles, decision and licence numbers, names: the metadata text searched
    metadata_text: Mapped[str] = mapped_column(Text)
    retention_end: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    log_index: Mapped[int] = mapped_column(BigInteger)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ingested_by: Mapped[str] = mapped_column(String(120))
    file_count: Mapped[int] = mapped_column(Integer)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    #: time of the latest fixity check (the sweep checks the least recently checked first)
    last_fixity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ``CREATE EXTENSION`` before the table when the schema is made from the models (tests,
# benches); migrations do the same in 0006_archive.
@event.listens_for(ArchivePackage.__table__, "before_create")
def _install_pg_trgm(_table: object, connection: Connection, **_kw: object) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")


class ArchiveItemName(Base):
    """Every (service item code, name) pair seen at ingest: a small table that turns a part of
    an item's name into item codes, so that the search reads ``archive_package`` by its item
    index instead of matching the name in every row. Written with insert-or-ignore."""

    __tablename__ = "archive_item_name"

    item_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_name: Mapped[str] = mapped_column(String(200), primary_key=True)


class ArchiveFile(Base):
    """Every file of a package by its bag path (payload and tag files in the manifests)."""

    __tablename__ = "archive_file"
    __table_args__ = (Index("ix_archive_file_sm3", "sm3"),)

    package_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("archive_package.id"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(600), primary_key=True)
    sm3: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)


class ArchiveServiceItem(Base):
    """A service item (政务服务事项) with its required-materials list (材料清单)."""

    __tablename__ = "archive_service_item"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    item_type: Mapped[str] = mapped_column(String(16))
    #: JSON list of {"code", "name", "mandatory"}
    required_materials: Mapped[str] = mapped_column(Text)
    retention: Mapped[str] = mapped_column(String(4))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ArchiveCodeCounter(Base):
    """The last 件号 given per fonds, year and retention period (DA/T 13-2022)."""

    __tablename__ = "archive_code_counter"

    fonds: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    retention: Mapped[str] = mapped_column(String(4), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class ArchiveUpload(Base):
    """A resumable submission upload: bytes land in ``<data>/archive/uploads/<id>``; the file is
    removed once the submission is archived or refused, or when the upload expires."""

    __tablename__ = "archive_upload"
    __table_args__ = (
        CheckConstraint(
            "state IN ('open', 'complete', 'used', 'refused', 'expired')", name="state_known"
        ),
        Index("ix_archive_upload_state_updated", "state", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(255))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    declared_size: Mapped[int | None] = mapped_column(BigInteger)
    sm3: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: last activity (creation, a chunk, completion): abandoned uploads expire from here
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ArchiveFixityRun(Base):
    __tablename__ = "archive_fixity_run"
    __table_args__ = (Index("ix_archive_fixity_run_package", "package_id", "checked_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    package_id: Mapped[str] = mapped_column(String(40), ForeignKey("archive_package.id"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ok: Mapped[bool] = mapped_column(Boolean)
    #: canonical JSON of the report (files named changed / missing / extra, problems)
    report: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    log_index: Mapped[int] = mapped_column(BigInteger)


class ArchiveAccess(Base):
    """Every access to a package, with its purpose (利用登记)."""

    __tablename__ = "archive_access"
    __table_args__ = (Index("ix_archive_access_package", "package_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    package_id: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ArchiveDisposal(Base):
    """A disposal (销毁) request: two distinct approvals, then execution and a tombstone."""

    __tablename__ = "archive_disposal"
    __table_args__ = (
        CheckConstraint(
            "state IN ('proposed', 'approved', 'executed', 'rejected')", name="state_known"
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    package_id: Mapped[str] = mapped_column(String(40), ForeignKey("archive_package.id"))
    register_number: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[str] = mapped_column(String(120))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: JSON list of {"by", "at"}
    approvals: Mapped[str] = mapped_column(Text, default="[]")
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    log_index: Mapped[int | None] = mapped_column(BigInteger)


class ArchiveTransfer(Base):
    """A transfer (移交, DA/T 93-2022) to an archives: the transfer bag written under the data
    directory, its root, and the receiving archives' receipt (回执) once it is recorded."""

    __tablename__ = "archive_transfer"
    __table_args__ = (
        CheckConstraint("state IN ('created', 'received', 'rejected')", name="state_known"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    receiver: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: SM3 of the transfer bag's tagmanifest-sm3.txt, and of its signed transfer manifest
    root_sm3: Mapped[str] = mapped_column(String(64))
    manifest_sm3: Mapped[str] = mapped_column(String(64))
    #: JSON list of the package ids handed over
    packages: Mapped[str] = mapped_column(Text)
    package_count: Mapped[int] = mapped_column(Integer)
    payload_bytes: Mapped[int] = mapped_column(BigInteger)
    location: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16))
    log_index: Mapped[int] = mapped_column(BigInteger)
    #: the receipt exactly as received, its SM3, and its detached SM2 signature (if any)
    receipt: Mapped[str | None] = mapped_column(Text)
    receipt_sm3: Mapped[str | None] = mapped_column(String(64))
    receipt_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: signature.valid / signature.untrusted / signature.absent (hashed and logged only)
    receipt_check: Mapped[str | None] = mapped_column(String(40))
    receipt_signer: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    receipt_log_index: Mapped[int | None] = mapped_column(BigInteger)
