"""Retrieval (issue 6 item 5; earchive spec §7, OAIS DIP): search, the case view, file and
package streams and the dissemination copy (the transfer package is ``archive.transfer``).

Every access is recorded with its purpose (``ArchiveAccess``: who, what, why, when); exports,
dissemination copies and transfers are also transparency-log events. A purpose is required:
an empty one is refused.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.bag import StoredBagSource, export_bag
from archive.model import ArchiveAccess, ArchiveFile, ArchivePackage
from archive.search import SearchQuery, SearchResult, search
from archive.service_errors import PackageNotFound
from archive.service_records import (
    PackageRecord,
    VersionRecord,
    case_versions,
    find_package_row,
    package_record,
    stored_bag,
)
from archive.storage import CHUNK_SIZE, BlobStore
from trust.clock import Clock
from trust.errors import InvalidInput
from trust.ids import new_id
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent

__all__ = [
    "CaseView",
    "SearchQuery",
    "SearchResult",
    "case_view",
    "dissemination_copy",
    "export_package",
    "open_file",
    "record_access",
    "search",
    "stream_folder_zip",
    "stream_package_zip",
]

ORIGINALS: Final = "data/representations/original/data/"


def record_access(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    action: str,
    purpose: str,
    package_id: str | None = None,
) -> None:
    """利用登记: one row per access. The purpose is mandatory."""
    purpose = (purpose or "").strip()
    if not purpose:
        raise InvalidInput("请填写利用目的", code="archive.purpose_required")
    session.add(
        ArchiveAccess(
            id=new_id("acc"),
            package_id=package_id,
            actor=actor,
            action=action,
            purpose=purpose[:200],
            at=clock.now(),
        )
    )
    session.flush()


def _access_package(
    session: Session, clock: Clock, ref: str, actor: str, action: str, purpose: str
) -> ArchivePackage:
    """The package behind ``ref`` (not disposed), its access recorded as ``action``."""
    row = find_package_row(session, ref)
    if row.status == "disposed":
        raise PackageNotFound(f"档案 {row.archival_code} 已销毁")
    record_access(
        session=session, clock=clock, actor=actor, action=action, purpose=purpose, package_id=row.id
    )
    return row


@dataclass(frozen=True, slots=True)
class CaseView:
    package: PackageRecord
    case: dict[str, Any]  # the archived case.json
    archival: dict[str, Any]
    report: dict[str, Any]  # the DA/T 70 report kept in the package
    timeline: tuple[dict[str, Any], ...]
    files: tuple[dict[str, Any], ...]  # path, size, sm3, title for originals
    seals: tuple[dict[str, Any], ...]  # subject, index, kind, verdict
    #: every archived version of the case (this one included), oldest first
    versions: tuple[VersionRecord, ...] = ()


def _json_at(session: Session, store: BlobStore, package_id: str, path: str) -> dict[str, Any]:
    row = session.get(ArchiveFile, (package_id, path))
    if row is None:
        return {}
    with store.get_stream(row.sm3) as fh:
        loaded: dict[str, Any] = json.loads(fh.read(16 * 1024 * 1024))
    return loaded


def case_view(
    *, session: Session, clock: Clock, store: BlobStore, ref: str, actor: str, purpose: str
) -> CaseView:
    row = _access_package(session, clock, ref, actor, "view", purpose)
    case = _json_at(session, store, row.id, "data/metadata/descriptive/case.json")
    archival = _json_at(session, store, row.id, "data/metadata/descriptive/archival.json")
    report = _json_at(
        session, store, row.id, "data/metadata/preservation/four-properties-report.json"
    )
    titles = {m.get("file"): m.get("title") for m in case.get("materials", [])}
    files = []
    for f in session.scalars(
        select(ArchiveFile).where(ArchiveFile.package_id == row.id).order_by(ArchiveFile.path)
    ):
        name = f.path.removeprefix(ORIGINALS) if f.path.startswith(ORIGINALS) else None
        files.append(
            {
                "path": f.path,
                "name": name,
                "title": titles.get(name) if name else None,
                "original": name is not None,
                "size": f.size,
                "sm3": f.sm3,
            }
        )
    return CaseView(
        package=package_record(row),
        case=case,
        archival=archival,
        report=report,
        timeline=tuple(case.get("nodes", [])),
        files=tuple(files),
        seals=tuple(report.get("seals", [])),
        versions=case_versions(session, row.case_number),
    )


@dataclass(frozen=True, slots=True)
class OpenedFile:
    path: str
    size: int
    sm3: str
    stream: BinaryIO


def open_file(
    *,
    session: Session,
    clock: Clock,
    store: BlobStore,
    ref: str,
    path: str,
    actor: str,
    purpose: str,
) -> OpenedFile:
    """One file of a package by bag path (or an original's plain name), as a stream."""
    row = find_package_row(session, ref)
    f = session.get(ArchiveFile, (row.id, path)) or session.get(
        ArchiveFile, (row.id, ORIGINALS + path)
    )
    if f is None or row.status == "disposed":
        raise PackageNotFound(f"档案 {row.archival_code} 中没有文件 {path}")
    record_access(
        session=session,
        clock=clock,
        actor=actor,
        action="download_file",
        purpose=purpose,
        package_id=row.id,
    )
    return OpenedFile(f.path, f.size, f.sm3, store.get_stream(f.sm3))


def _log(
    session: Session, clock: Clock, kind: str, row: ArchivePackage, actor: str, **kw: Any
) -> None:
    tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind=kind,
            subject=row.archival_code,
            actor=actor,
            payload={"root_sm3": row.root_sm3, **kw},
        ),
    )


def export_package(
    *,
    session: Session,
    clock: Clock,
    store: BlobStore,
    ref: str,
    dest: Path,
    actor: str,
    purpose: str,
    on_chunk: Callable[[int], None] | None = None,
) -> PackageRecord:
    """Write the whole bag (with its seal and timestamp) into the empty directory ``dest``;
    ``on_chunk`` hears the bytes written (progress)."""
    row = _access_package(session, clock, ref, actor, "export", purpose)
    export_bag(StoredBagSource(store, stored_bag(row)), Path(dest), on_chunk=on_chunk)
    _log(session, clock, "archive.export", row, actor, purpose=purpose.strip()[:200])
    return package_record(row)


class _ZipSink(io.RawIOBase):
    """A write-only buffer drained by the zip streamer between writes."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.buffer += bytes(b)
        return len(b)

    def drain(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


Member = tuple[str, str | bytes | Path]  # zip name; an object address, inline bytes or a file


def _open_member(store: BlobStore, source: str | Path) -> BinaryIO:
    return open(source, "rb") if isinstance(source, Path) else store.get_stream(source)


def _zip_stream(store: BlobStore, members: list[Member]) -> Iterator[bytes]:
    """A ZIP (stored, no compression) produced chunk by chunk: memory stays bounded."""
    sink = _ZipSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, source in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as out:
                if isinstance(source, bytes):
                    out.write(source)
                else:
                    with _open_member(store, source) as fh:
                        while chunk := fh.read(CHUNK_SIZE):
                            out.write(chunk)
                            yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def stream_folder_zip(store: BlobStore, folder: Path, top: str) -> Iterator[bytes]:
    """Every file under ``folder`` (a transfer bag on disk) as a streamed ZIP under ``top/``."""
    members: list[Member] = [
        (f"{top}/{p.relative_to(folder).as_posix()}", p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    ]
    return _zip_stream(store, members)


def stream_package_zip(
    *, session: Session, clock: Clock, store: BlobStore, ref: str, actor: str, purpose: str
) -> tuple[PackageRecord, Iterator[bytes]]:
    """The whole bag as a streamed ZIP (for download; the archive itself stores no ZIP)."""
    row = _access_package(session, clock, ref, actor, "download_package", purpose)
    source = StoredBagSource(store, stored_bag(row))
    top = row.archival_code.replace("·", ".")
    members: list[Member] = []
    for path in source.list_files():
        f = session.get(ArchiveFile, (row.id, path))
        address = f.sm3 if f is not None else dict(stored_bag(row).uncovered).get(path)
        if address is None and path == "tagmanifest-sm3.txt":
            address = row.root_sm3
        if address is not None:
            members.append((f"{top}/{path}", address))
    return package_record(row), _zip_stream(store, members)


def dissemination_copy(
    *, session: Session, clock: Clock, store: BlobStore, ref: str, actor: str, purpose: str
) -> tuple[PackageRecord, Iterator[bytes]]:
    """利用副本 (OAIS DIP): the originals, the case metadata, the check report and a notice that
    this is a copy for use (非原件), as a streamed ZIP. Logged as ``archive.access_copy``."""
    row = _access_package(session, clock, ref, actor, "access_copy", purpose)
    notice = (
        f"利用副本（非原件）\n档号：{row.archival_code}\n办件编号：{row.case_number}\n"
        f"版本：{row.version}\n归档信息包根摘要（SM3）：{row.root_sm3}\n"
        f"利用目的：{purpose.strip()}\n制作时间：{clock.now().isoformat()}\n"
        "原件以归档信息包为准，可凭根摘要在透明日志中核验。\n"
    ).encode()
    members: list[Member] = [("利用副本说明.txt", notice)]
    for f in session.scalars(
        select(ArchiveFile).where(ArchiveFile.package_id == row.id).order_by(ArchiveFile.path)
    ):
        if f.path.startswith(ORIGINALS):
            members.append((f"原件副本/{f.path.removeprefix(ORIGINALS)}", f.sm3))
        elif f.path.startswith("data/metadata/"):
            members.append((f.path.removeprefix("data/"), f.sm3))
    _log(session, clock, "archive.access_copy", row, actor, purpose=purpose.strip()[:200])
    return package_record(row), _zip_stream(store, members)
