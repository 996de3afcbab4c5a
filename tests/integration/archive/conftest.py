"""Fixtures for the archive services on a real database: the CA, TSA and archive keys
(software keystore), the test trust anchors of ``case_factory`` imported into the trust list, a
filesystem store, and a case-folder factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from archive.service import ArchiveTools, Ingested, ingest_case
from archive.service_tools import archive_store, archive_tools
from archive.storage import FilesystemBlobStore
from keys.software import SoftwareKeyStore
from tests.unit.archive.case_factory import CaseFolder, materials, write_case
from trust.ca.anchors import add_trust_anchor
from trust.cli.archive import ensure_archive_key
from trust.clock import FixedClock
from trust.config import Settings


@dataclass
class ArchiveWorld:
    db: sessionmaker[Session]
    clock: FixedClock
    keystore: SoftwareKeyStore
    settings: Settings
    tmp: Path

    def tools(self, session: Session) -> ArchiveTools:
        return archive_tools(session=session, settings=self.settings)

    def tools_store(self) -> FilesystemBlobStore:
        return archive_store(self.settings)

    def case(self, name: str = "case", **kw: Any) -> CaseFolder:
        return write_case(self.tmp / name, **kw)

    def ingest(self, folder: Path, actor: str = "user:archivist") -> Ingested:
        with self.db() as s, s.begin():
            return ingest_case(
                session=s,
                clock=self.clock,
                keystore=self.keystore,
                tools=self.tools(s),
                source=folder,
                actor=actor,
            )


def setup_archive(
    db: sessionmaker[Session], clock: FixedClock, keystore: SoftwareKeyStore, settings: Settings
) -> None:
    with db() as s, s.begin():
        ensure_archive_key(session=s, clock=clock, keystore=keystore, settings=settings)
        for n, der in enumerate(materials().anchors):
            add_trust_anchor(session=s, clock=clock, pem=der, actor="test", label=f"test-{n}")


@pytest.fixture
def world(
    db: sessionmaker[Session], clock: FixedClock, settings: Settings, tmp_path: Path
) -> ArchiveWorld:
    keystore = SoftwareKeyStore.from_settings(settings)
    setup_archive(db, clock, keystore, settings)
    return ArchiveWorld(db, clock, keystore, settings, tmp_path)


CaseMaker = Callable[..., CaseFolder]
