"""archive.scan: the built-in EICAR detector, and ClamAV as a subprocess - unavailable without
the executable or a signature database (never a pass), working with a database made here."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from archive.scan import EICAR_SIGNATURE_NAME, ClamavScanner, EicarDetector, ScanStatus
from archive.storage import CHUNK_SIZE
from tests.conftest import skip_or_fail

# written at test time from two halves, so no file in the repository carries the test string
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
MARKER = b"YWTB-CLAMAV-TEST-MARKER-7f3a"


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_eicar_is_found_at_the_start_across_a_chunk_boundary_and_inside_a_zip(
    tmp_path: Path,
) -> None:
    boundary = b"\x00" * (CHUNK_SIZE - 20) + EICAR + b"\x00" * 100
    files = {
        "plain.com": EICAR,
        "boundary.bin": boundary,
        "package.ofd": _zip({"OFD.xml": b"<x/>", "Doc_0/Res/a.bin": EICAR}),
        "clean.txt": b"nothing here " + EICAR[:40],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = EicarDetector().scan(tmp_path, sorted(files))
    assert result.status is ScanStatus.INFECTED
    assert {f.path for f in result.findings} == {"plain.com", "boundary.bin", "package.ofd"}
    assert {f.signature for f in result.findings} == {EICAR_SIGNATURE_NAME}
    assert result.files_scanned == 4


def test_eicar_detector_clean(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"hello")
    result = EicarDetector().scan(tmp_path, ["a.txt"])
    assert (result.status, result.reason) == (ScanStatus.CLEAN, "scan.clean")


def test_clamav_not_installed_is_not_available(tmp_path: Path) -> None:
    scanner = ClamavScanner(executable="no-such-clamscan-ywtb")
    result = scanner.scan(tmp_path, [])
    assert (result.status, result.reason) == (ScanStatus.NOT_AVAILABLE, "scan.clamav_not_installed")


@pytest.fixture
def clamscan() -> str:
    path = shutil.which("clamscan")
    if path is None:
        skip_or_fail("ClamAV is not installed (apt-get install clamav; .ci/run installs it)")
        raise AssertionError("unreachable")
    return path


def test_clamav_without_a_database_is_not_available(tmp_path: Path, clamscan: str) -> None:
    empty = tmp_path / "db"
    empty.mkdir()
    (tmp_path / "a.txt").write_bytes(EICAR)
    result = ClamavScanner(database_dir=empty).scan(tmp_path, ["a.txt"])
    assert (result.status, result.reason) == (ScanStatus.NOT_AVAILABLE, "scan.clamav_no_database")


def test_clamav_with_a_signature_database_finds_and_clears(tmp_path: Path, clamscan: str) -> None:
    db = tmp_path / "db"
    db.mkdir()
    # an extended (.ndb) signature: name:target type (0 = any):offset (*):hex
    (db / "ywtb-test.ndb").write_text(f"YwtbTest.Marker:0:*:{MARKER.hex()}\n")
    files = tmp_path / "files"
    files.mkdir()
    (files / "带空格 的: 名字.txt").write_bytes(b"prefix " + MARKER + b" suffix")
    (files / "clean.txt").write_bytes(b"clean")
    scanner = ClamavScanner(database_dir=db)
    result = scanner.scan(files, ["带空格 的: 名字.txt", "clean.txt"])
    if result.status is ScanStatus.ERROR:
        skip_or_fail(f"clamscan could not run here: {result.detail}")
    assert result.status is ScanStatus.INFECTED
    assert [(f.path, f.signature) for f in result.findings] == [
        ("带空格 的: 名字.txt", "YwtbTest.Marker.UNOFFICIAL")
    ]
    assert result.engine_version
    clean = scanner.scan(files, ["clean.txt"])
    assert (clean.status, clean.findings) == (ScanStatus.CLEAN, ())
