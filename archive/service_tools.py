"""The archive's collaborators built from the settings: the write-once store under
``<data_dir>/blobs/archive``, staging, upload and transfer folders on the same file system, the
seal verifiers' trust answers from the service trust list, the certificates evidence chains are
built from, and the virus scanners.

Virus scanners (``Settings.archive_virus_scanner``): the built-in EICAR detector always runs
(``archive.checks``); "clamav" / "clamd" make ClamAV **required** - when it is missing (no
executable, no signature database, no daemon) the report says so and the ingest is refused
(``CheckPolicy.block_when_scanner_unavailable``); "auto" runs ClamAV when it is installed with a
database and otherwise reports it as not available, without blocking. Either way the report
lists which scanners ran (``virus_scanners_ran``): a configured scanner is never dropped.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from archive.evidence import CertificatePool
from archive.scan import MAX_SCAN_BYTES, ClamavScanner, VirusScanner
from archive.service import ArchiveTools
from archive.storage import FilesystemBlobStore
from seals.trust_adapter import service_trust
from trust.ca import service as ca_service
from trust.config import Settings

__all__ = [
    "archive_root",
    "archive_store",
    "archive_tools",
    "available_scanners",
    "staging_root",
    "transfers_root",
    "uploads_root",
]


def archive_root(settings: Settings) -> Path:
    return settings.blob_dir / "archive"


def archive_store(settings: Settings) -> FilesystemBlobStore:
    return FilesystemBlobStore(archive_root(settings) / "store")


def staging_root(settings: Settings) -> Path:
    return archive_root(settings) / "staging"


def uploads_root(settings: Settings) -> Path:
    return archive_root(settings) / "uploads"


def transfers_root(settings: Settings) -> Path:
    return archive_root(settings) / "transfers"


def available_scanners(settings: Settings) -> list[VirusScanner]:
    """The configured scanners, available or not (module docstring)."""
    mode = settings.archive_virus_scanner
    clam = ClamavScanner(
        database_dir=settings.archive_clamav_database,
        daemon=mode == "clamd",
        max_file_bytes=MAX_SCAN_BYTES,
        required=mode != "auto",
    )
    return [clam]


def _pool(session: Session) -> CertificatePool:
    anchors = tuple(ca_service.trust_anchors_der(session=session))
    if not ca_service.is_initialised(session=session):
        return CertificatePool(anchors, ())
    return CertificatePool(anchors, tuple(ca_service.ca_chain(session=session)))


def archive_tools(*, session: Session, settings: Settings) -> ArchiveTools:
    trust, timestamps = service_trust(session=session)
    return ArchiveTools(
        store=archive_store(settings),
        staging_root=staging_root(settings),
        trust=trust,
        timestamps=timestamps,
        scanners=tuple(available_scanners(settings)),
        tsa_policy_oid=settings.tsa_policy_oid,
        certificates=_pool(session),
    )
