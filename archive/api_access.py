"""Reading one case, shared by the API (``/archive/cases/{ref}…``, bearer token) and the case
pages (``/archive/view/{ref}…``, staff cookie): the case view and the downloads - one file of a
package, the whole package and the dissemination copy (利用副本), each streamed in bounded
chunks. ``archive.retrieval`` records each access with its purpose before the first byte is
sent; a refusal raises a ``TrustError`` before any response exists, so each caller answers it
its own way (problem+json, or an error page).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypedDict
from urllib.parse import quote

from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from archive import retrieval
from archive.service_tools import archive_store
from archive.storage import BlobStore
from trust.clock import Clock
from trust.config import Settings

__all__ = [
    "CaseAccess",
    "Reading",
    "access_copy_download",
    "attachment",
    "case_view",
    "file_download",
    "package_download",
]

_CHUNK = 1024 * 1024


class Reading(TypedDict):
    """The keyword arguments of every ``archive.retrieval`` reader of one case."""

    session: Session
    clock: Clock
    store: BlobStore
    ref: str
    actor: str
    purpose: str


@dataclass(frozen=True, slots=True)
class CaseAccess:
    """One reading of the case ``ref``: by ``actor`` (already allowed to read), for ``purpose``
    (利用目的, recorded), with the request's session, clock and settings."""

    session: Session
    clock: Clock
    settings: Settings
    ref: str
    actor: str
    purpose: str

    def reading(self) -> Reading:
        return Reading(
            session=self.session,
            clock=self.clock,
            store=archive_store(self.settings),
            ref=self.ref,
            actor=self.actor,
            purpose=self.purpose,
        )


def attachment(name: str) -> str:
    """A ``Content-Disposition`` value for ``name`` (RFC 6266 / RFC 5987, UTF-8)."""
    return f"attachment; filename*=UTF-8''{quote(name)}"


def _stream(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def case_view(access: CaseAccess) -> retrieval.CaseView:
    """The case page's content (metadata, timeline, files, seals, versions)."""
    return retrieval.case_view(**access.reading())


def file_download(access: CaseAccess, path: str) -> StreamingResponse:
    """One file of a package, its bytes unchanged, with its size and SM3."""
    opened = retrieval.open_file(**access.reading(), path=path)
    return StreamingResponse(
        _stream(opened.stream),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": attachment(opened.path.rsplit("/", 1)[-1]),
            "Content-Length": str(opened.size),
            "X-Content-SM3": opened.sm3,
        },
    )


def package_download(access: CaseAccess) -> StreamingResponse:
    """The whole archival information package as a ZIP, with its root SM3."""
    record, chunks = retrieval.stream_package_zip(**access.reading())
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Disposition": attachment(f"{record.archival_code}.zip"),
            "X-Package-Root-SM3": record.root_sm3,
        },
    )


def access_copy_download(access: CaseAccess) -> StreamingResponse:
    """The dissemination copy (非原件) as a ZIP."""
    record, chunks = retrieval.dissemination_copy(**access.reading())
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={"Content-Disposition": attachment(f"{record.archival_code}-利用副本.zip")},
    )
