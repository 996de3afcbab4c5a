"""Resumable uploads of large submissions (issue 6 item 1): create, append chunks at explicit
offsets, complete with the SM3 of the whole, then submit the upload as a case.

A chunk is accepted only at the current end (``offset == received``); any other offset is a
``Conflict`` that carries the current ``received`` so that the client resumes from there. The
row is locked while a chunk is written, so two writers never interleave. ``complete`` re-hashes
the file (streaming) and compares with the client's SM3 and size in constant time.

An upload is used once: ``ingest_upload`` runs the ingest in a savepoint and removes the zip
whatever the outcome - archived (``used``) or refused (``refused``, the ingest's own changes
rolled back, the upload's state kept). Uploads left open or never submitted expire:
``expire_uploads`` (a periodic job) removes their files after ``max_age`` without activity, and
any file in the upload folder that no live upload owns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.model import ArchiveUpload
from archive.service_errors import UploadNotFound
from archive.storage import hash_stream
from archive.submission import MAX_SUBMISSION_BYTES
from trust.clock import Clock
from trust.crypto import constant_time_equal
from trust.errors import Conflict, InvalidInput, PayloadTooLarge, TrustError
from trust.ids import new_id

__all__ = [
    "DEFAULT_UPLOAD_AGE",
    "MAX_UPLOAD_BYTES",
    "UploadRecord",
    "UploadSweep",
    "append_chunk",
    "complete_upload",
    "create_upload",
    "expire_uploads",
    "get_upload",
    "ingest_upload",
    "take_upload",
]

MAX_UPLOAD_BYTES: Final = MAX_SUBMISSION_BYTES
#: an upload with no activity for this long is abandoned
DEFAULT_UPLOAD_AGE: Final = timedelta(hours=24)
_LIVE: Final = ("open", "complete")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UploadRecord:
    id: str
    filename: str
    received: int
    declared_size: int | None
    state: str
    sm3: str | None


def _record(row: ArchiveUpload) -> UploadRecord:
    return UploadRecord(row.id, row.filename, row.received, row.declared_size, row.state, row.sm3)


def _path(root: Path, upload_id: str) -> Path:
    return root / upload_id


def _row(session: Session, upload_id: str, owner: str, *, lock: bool = False) -> ArchiveUpload:
    row = session.get(ArchiveUpload, upload_id, with_for_update=lock)
    if row is None or row.owner != owner:  # another owner's upload does not exist for you
        raise UploadNotFound(f"没有上传 {upload_id}")
    return row


def create_upload(
    *,
    session: Session,
    clock: Clock,
    root: Path,
    owner: str,
    filename: str,
    size: int | None,
) -> UploadRecord:
    name = (filename or "case.zip").strip()[:255]
    if size is not None and not 0 < size <= MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"上传大小须在 1 到 {MAX_UPLOAD_BYTES} 字节之间")
    row = ArchiveUpload(
        id=new_id("upl"),
        owner=owner,
        filename=name,
        received=0,
        declared_size=size,
        state="open",
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    root.mkdir(parents=True, exist_ok=True)
    with open(_path(root, row.id), "xb"):
        pass
    session.add(row)
    session.flush()
    return _record(row)


def get_upload(*, session: Session, upload_id: str, owner: str) -> UploadRecord:
    return _record(_row(session, upload_id, owner))


def append_chunk(
    *,
    session: Session,
    clock: Clock,
    root: Path,
    upload_id: str,
    owner: str,
    offset: int,
    chunks: Iterable[bytes],
) -> UploadRecord:
    """Write ``chunks`` at ``offset`` (must be the current end)."""
    row = _row(session, upload_id, owner, lock=True)
    if row.state != "open":
        raise Conflict("上传已完成", code="archive.upload_closed")
    if offset != row.received:
        raise Conflict(
            f"偏移量应为 {row.received}",
            code="archive.upload_offset",
            extra={"received": row.received},
        )
    limit = row.declared_size if row.declared_size is not None else MAX_UPLOAD_BYTES
    written = 0
    with open(_path(root, row.id), "r+b") as fh:
        fh.seek(offset)
        fh.truncate()  # bytes of an interrupted earlier attempt past ``received`` are dropped
        for chunk in chunks:
            written += len(chunk)
            if offset + written > limit:
                raise PayloadTooLarge("上传超过声明的大小")
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    row.received = offset + written
    row.updated_at = clock.now()
    session.flush()
    return _record(row)


def complete_upload(
    *, session: Session, clock: Clock, root: Path, upload_id: str, owner: str, sm3: str, size: int
) -> UploadRecord:
    row = _row(session, upload_id, owner, lock=True)
    if row.state != "open":
        raise Conflict("上传已完成", code="archive.upload_closed")
    if size != row.received:
        raise InvalidInput(
            f"已收到 {row.received} 字节，而非 {size}",
            code="archive.upload_incomplete",
            extra={"received": row.received},
        )
    with open(_path(root, row.id), "rb") as fh:
        digests = hash_stream(fh)
    if not constant_time_equal(digests.sm3.encode(), sm3.strip().lower().encode()):
        raise InvalidInput(
            "上传内容的 SM3 与声明不一致",
            code="archive.digest_mismatch",
            extra={"sm3": digests.sm3},
        )
    row.state, row.sm3 = "complete", digests.sm3
    row.updated_at = clock.now()
    session.flush()
    return _record(row)


def take_upload(*, session: Session, root: Path, upload_id: str, owner: str) -> Path:
    """The completed upload's file, for its one submission (marked ``used``)."""
    row = _row(session, upload_id, owner, lock=True)
    if row.state == "open":
        raise Conflict("上传尚未完成", code="archive.upload_not_complete")
    if row.state != "complete" or not _path(root, row.id).is_file():
        raise Conflict(
            f"上传已{'过期' if row.state == 'expired' else '处理'}，请重新上传",
            code="archive.upload_consumed",
            extra={"state": row.state},
        )
    row.state = "used"
    session.flush()
    return _path(root, row.id)


def _remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def ingest_upload(
    *,
    session: Session,
    root: Path,
    upload_id: str,
    owner: str,
    ingest: Callable[[Path], T],
) -> T:
    """Submit a completed upload once: ``ingest(path)`` runs in a savepoint; on any refusal
    (``TrustError``) its changes are rolled back, the upload is marked ``refused`` in the
    caller's transaction and the error re-raised. The zip is removed either way."""
    path = take_upload(session=session, root=root, upload_id=upload_id, owner=owner)
    try:
        with session.begin_nested():
            return ingest(path)
    except TrustError:
        row = _row(session, upload_id, owner)
        row.state = "refused"
        session.flush()
        raise
    finally:
        _remove(path)


@dataclass(frozen=True, slots=True)
class UploadSweep:
    expired: int  # open or completed uploads abandoned for longer than max_age
    files_removed: int  # upload files removed (expired, or owned by no live upload)
    bytes_freed: int

    def line(self) -> str:
        return (
            f"expired {self.expired}, files removed {self.files_removed}, {self.bytes_freed} bytes"
        )


def _expire_one(session_factory: sessionmaker[Session], upload_id: str, cutoff: datetime) -> bool:
    with session_factory() as s, s.begin():
        row = s.get(ArchiveUpload, upload_id, with_for_update=True)
        if row is None or row.state not in _LIVE or row.updated_at >= cutoff:
            return False  # used or resumed meanwhile
        row.state = "expired"
    return True


def expire_uploads(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    root: Path,
    max_age: timedelta = DEFAULT_UPLOAD_AGE,
) -> UploadSweep:
    """Expire uploads without activity for ``max_age`` (one transaction each), then remove
    every upload file that no live upload owns and that is older than ``max_age`` (an upload
    file is created just before its row commits: a young file without a row is left)."""
    cutoff = clock.now() - max_age
    with session_factory() as s:
        stale = s.scalars(
            select(ArchiveUpload.id).where(
                ArchiveUpload.state.in_(_LIVE), ArchiveUpload.updated_at < cutoff
            )
        ).all()
    expired = sum(1 for upload_id in stale if _expire_one(session_factory, upload_id, cutoff))
    removed = freed = 0
    if root.is_dir():
        for path in sorted(root.iterdir()):
            with session_factory() as s:
                row = s.get(ArchiveUpload, path.name)
            live = row is not None and row.state in _LIVE
            if live or (row is None and path.stat().st_mtime >= cutoff.timestamp()):
                continue
            freed += path.stat().st_size
            _remove(path)
            removed += 1
    return UploadSweep(expired, removed, freed)
