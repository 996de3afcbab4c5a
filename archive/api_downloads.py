"""The download responses of the archive, shared by the API (``/archive/cases/{ref}/…``, bearer
token) and the case pages (``/archive/view/{ref}/…``, staff cookie): one file of a package, the
whole package and the dissemination copy (利用副本), each streamed in bounded chunks. The access
(with its purpose) is recorded by ``archive.retrieval`` before the first byte is sent; a refusal
raises a ``TrustError`` before any response exists, so each caller answers it its own way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from archive import retrieval
from archive.service_tools import archive_store
from trust.clock import Clock
from trust.config import Settings

__all__ = ["access_copy_download", "attachment", "file_download", "package_download"]

_CHUNK = 1024 * 1024


def attachment(name: str) -> str:
    """A ``Content-Disposition`` value for ``name`` (RFC 6266 / RFC 5987, UTF-8)."""
    return f"attachment; filename*=UTF-8''{quote(name)}"


def _stream(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def file_download(
    *,
    session: Session,
    clock: Clock,
    settings: Settings,
    ref: str,
    path: str,
    actor: str,
    purpose: str,
) -> StreamingResponse:
    """One file of a package, its bytes unchanged, with its size and SM3."""
    opened = retrieval.open_file(
        session=session,
        clock=clock,
        store=archive_store(settings),
        ref=ref,
        path=path,
        actor=actor,
        purpose=purpose,
    )
    return StreamingResponse(
        _stream(opened.stream),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": attachment(opened.path.rsplit("/", 1)[-1]),
            "Content-Length": str(opened.size),
            "X-Content-SM3": opened.sm3,
        },
    )


def package_download(
    *, session: Session, clock: Clock, settings: Settings, ref: str, actor: str, purpose: str
) -> StreamingResponse:
    """The whole archival information package as a ZIP, with its root SM3."""
    record, chunks = retrieval.stream_package_zip(
        session=session,
        clock=clock,
        store=archive_store(settings),
        ref=ref,
        actor=actor,
        purpose=purpose,
    )
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Disposition": attachment(f"{record.archival_code}.zip"),
            "X-Package-Root-SM3": record.root_sm3,
        },
    )


def access_copy_download(
    *, session: Session, clock: Clock, settings: Settings, ref: str, actor: str, purpose: str
) -> StreamingResponse:
    """The dissemination copy (非原件) as a ZIP."""
    record, chunks = retrieval.dissemination_copy(
        session=session,
        clock=clock,
        store=archive_store(settings),
        ref=ref,
        actor=actor,
        purpose=purpose,
    )
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={"Content-Disposition": attachment(f"{record.archival_code}-利用副本.zip")},
    )
