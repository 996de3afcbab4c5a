"""Resumable uploads of large submissions (issue 6 item 1): create, append chunks at explicit
offsets, complete with the SM3 of the whole, then submit the upload as a case.

A chunk is accepted only at the current end (``offset == received``); any other offset is a
``Conflict`` that carries the current ``received`` so that the client resumes from there. The
row is locked while a chunk is written, so two writers never interleave. ``complete`` re-hashes
the file (streaming) and compares with the client's SM3 and size in constant time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from archive.model import ArchiveUpload
from archive.service_errors import UploadNotFound
from archive.storage import hash_stream
from trust.clock import Clock
from trust.crypto import constant_time_equal
from trust.errors import Conflict, InvalidInput, PayloadTooLarge
from trust.ids import new_id

__all__ = [
    "MAX_UPLOAD_BYTES",
    "UploadRecord",
    "append_chunk",
    "complete_upload",
    "create_upload",
    "get_upload",
    "take_upload",
]

MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024 * 1024


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
    session.flush()
    return _record(row)


def complete_upload(
    *, session: Session, root: Path, upload_id: str, owner: str, sm3: str, size: int
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
    session.flush()
    return _record(row)


def take_upload(*, session: Session, root: Path, upload_id: str, owner: str) -> Path:
    """The completed upload's file, for one submission."""
    row = _row(session, upload_id, owner, lock=True)
    if row.state not in ("complete", "used"):
        raise Conflict("上传尚未完成", code="archive.upload_not_complete")
    row.state = "used"
    session.flush()
    return _path(root, row.id)
