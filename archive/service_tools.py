"""The archive's collaborators built from the settings: the write-once store under
``<data_dir>/blobs/archive``, staging and upload folders on the same file system, the seal
verifiers' trust answers from the service trust list, and the virus scanners.

ClamAV is used when it is installed with a signature database; the built-in EICAR detector always
runs (``archive.checks``). Without ClamAV the ingest still runs its own detector only, and the
report says which engines ran.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from archive.scan import ClamavScanner, VirusScanner
from archive.service import ArchiveTools
from archive.storage import FilesystemBlobStore
from seals.trust_adapter import service_trust
from trust.config import Settings

__all__ = ["archive_root", "archive_store", "archive_tools", "available_scanners"]


def archive_root(settings: Settings) -> Path:
    return settings.blob_dir / "archive"


def archive_store(settings: Settings) -> FilesystemBlobStore:
    return FilesystemBlobStore(archive_root(settings) / "store")


def available_scanners() -> list[VirusScanner]:
    clam = ClamavScanner()
    return [clam] if clam.availability() is None else []


def archive_tools(*, session: Session, settings: Settings) -> ArchiveTools:
    trust, timestamps = service_trust(session=session)
    return ArchiveTools(
        store=archive_store(settings),
        staging_root=archive_root(settings) / "staging",
        trust=trust,
        timestamps=timestamps,
        scanners=tuple(available_scanners()),
        tsa_policy_oid=settings.tsa_policy_oid,
    )
