"""The virus check at ingest (DA/T 70 安全性) with the real ClamAV, configured through the
settings: a case holding the EICAR file is refused with ClamAV's finding in the report and
nothing stored; a required ClamAV that is missing (no signature database) refuses even a clean
case; "auto" without a database archives and says ClamAV did not run; a clean case with ClamAV
available is archived with both engines in the report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from archive.model import ArchivePackage
from archive.service_errors import IngestRefused
from archive.service_tools import staging_root
from tests.conftest import skip_or_fail
from tests.integration.archive.conftest import ArchiveWorld
from tests.unit.archive.test_scan import EICAR, eicar_database


@pytest.fixture
def clamscan() -> str:
    path = shutil.which("clamscan")
    if path is None:
        skip_or_fail("ClamAV is not installed (apt-get install clamav; .ci/run installs it)")
        raise AssertionError("unreachable")
    return path


def _with(world: ArchiveWorld, **settings: Any) -> ArchiveWorld:
    changed = world.settings.model_copy(update=settings)
    return ArchiveWorld(world.db, world.clock, world.keystore, changed, world.tmp)


def _nothing_stored(world: ArchiveWorld) -> None:
    with world.db() as s:
        assert s.scalar(select(func.count()).select_from(ArchivePackage)) == 0
    assert list(world.tools_store().list()) == []
    staging = staging_root(world.settings)
    assert not staging.exists() or not any(staging.iterdir())


def test_a_case_with_eicar_is_refused_with_clamavs_finding(
    world: ArchiveWorld, clamscan: str, tmp_path: Path
) -> None:
    clam = _with(
        world,
        archive_virus_scanner="clamav",
        archive_clamav_database=eicar_database(tmp_path / "clamdb"),
    )
    folder = clam.case(extra_files={"0008-附件.com": EICAR}).path
    with pytest.raises(IngestRefused) as err:
        clam.ingest(folder)
    report = err.value.extra["report"]
    scans = {s["engine"]: s for s in report["virus_scans"]}
    assert scans["clamav"]["status"] == "infected", scans["clamav"]
    assert [f["path"] for f in scans["clamav"]["findings"]] == ["0008-附件.com"]
    assert scans["clamav"]["findings"][0]["signature"].startswith("Eicar-Test-Signature")
    assert scans["builtin-eicar"]["status"] == "infected"
    assert report["virus_scanners_ran"] == ["builtin-eicar", "clamav"]
    virus = [f for f in err.value.extra["failures"] if f["reason"] == "virus.found"]
    assert {f["subject"] for f in virus} == {"0008-附件.com"}
    assert any(f["detail"].startswith("clamav") for f in virus)
    _nothing_stored(clam)


def test_a_required_clamav_without_a_database_blocks_ingest(
    world: ArchiveWorld, clamscan: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-db"
    empty.mkdir()
    clam = _with(world, archive_virus_scanner="clamav", archive_clamav_database=empty)
    with pytest.raises(IngestRefused) as err:
        clam.ingest(clam.case().path)  # a clean case
    failures = err.value.extra["failures"]
    assert [(f["subject"], f["reason"], f["outcome"]) for f in failures] == [
        ("clamav", "scan.clamav_no_database", "not_available")
    ]
    report = err.value.extra["report"]
    assert report["verdict"] == "incomplete"
    assert report["virus_scanners_not_available"] == ["clamav"]
    _nothing_stored(clam)


def test_auto_without_a_database_archives_and_says_clamav_did_not_run(
    world: ArchiveWorld, clamscan: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-db"
    empty.mkdir()
    auto = _with(world, archive_virus_scanner="auto", archive_clamav_database=empty)
    done = auto.ingest(auto.case().path)
    assert done.report is not None
    assert done.report["virus_scanners_ran"] == ["builtin-eicar"]
    assert done.report["virus_scanners_not_available"] == ["clamav"]
    clam_items = [i for i in done.report["items"] if i["subject"] == "clamav"]
    assert [(i["outcome"], i["blocking"]) for i in clam_items] == [("not_available", False)]


def test_a_clean_case_is_archived_with_both_engines(
    world: ArchiveWorld, clamscan: str, tmp_path: Path
) -> None:
    clam = _with(
        world,
        archive_virus_scanner="clamav",
        archive_clamav_database=eicar_database(tmp_path / "clamdb"),
    )
    done = clam.ingest(clam.case().path)
    assert done.created
    assert done.report is not None
    scans = {s["engine"]: s["status"] for s in done.report["virus_scans"]}
    assert scans == {"builtin-eicar": "clean", "clamav": "clean"}
