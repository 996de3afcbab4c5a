"""archive.scan: the built-in EICAR detector, and real ClamAV as a subprocess - unavailable
without the executable or a signature database (never a pass), finding EICAR with a signature
database made here, and given explicit size limits so that a larger file is reported as not
scanned instead of silently "OK"."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from archive.scan import (
    CLAMAV_MAX_BYTES,
    EICAR_SIGNATURE_NAME,
    MAX_SCAN_BYTES,
    ClamavScanner,
    EicarDetector,
    EicarStream,
    ScanStatus,
)
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


def eicar_database(folder: Path) -> Path:
    """A ClamAV signature database made here (no freshclam, no network): the EICAR file by its
    MD5 and length (``.hdb``) and the EICAR string anywhere in a file (``.ndb``)."""
    folder.mkdir(parents=True, exist_ok=True)
    md5 = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()
    (folder / "eicar.hdb").write_text(f"{md5}:{len(EICAR)}:Eicar-Test-Signature\n")
    (folder / "eicar.ndb").write_text(f"Eicar-Test-Signature-Embedded:0:*:{EICAR.hex()}\n")
    return folder


def test_clamav_detects_eicar(tmp_path: Path, clamscan: str) -> None:
    db = eicar_database(tmp_path / "db")
    files = tmp_path / "files"
    files.mkdir()
    (files / "eicar.com").write_bytes(EICAR)
    (files / "inside.bin").write_bytes(b"\x00" * 5000 + EICAR + b"\x00" * 5000)
    (files / "clean.pdf").write_bytes(b"%PDF-1.7\n" + b"0" * 1000)
    result = ClamavScanner(database_dir=db).scan(files, ["clean.pdf", "eicar.com", "inside.bin"])
    if result.status is ScanStatus.ERROR:
        skip_or_fail(f"clamscan could not run here: {result.detail}")
    assert result.status is ScanStatus.INFECTED
    assert result.reason == "scan.infected"
    found = {f.path: f.signature.removesuffix(".UNOFFICIAL") for f in result.findings}
    assert set(found) == {"eicar.com", "inside.bin"}  # one finding per file, clean.pdf clean
    assert found["inside.bin"] == "Eicar-Test-Signature-Embedded"
    assert result.engine_version
    assert result.to_dict()["ran"] is True
    # the hash signature alone finds the EICAR file itself
    (db / "eicar.ndb").unlink()
    by_hash = ClamavScanner(database_dir=db).scan(files, ["eicar.com", "inside.bin"])
    assert [(f.path, f.signature) for f in by_hash.findings] == [
        ("eicar.com", "Eicar-Test-Signature.UNOFFICIAL")
    ]


def test_clamscan_gets_explicit_limits_and_a_larger_file_is_no_pass(
    tmp_path: Path, clamscan: str
) -> None:
    db = eicar_database(tmp_path / "db")
    files = tmp_path / "files"
    files.mkdir()
    (files / "big.bin").write_bytes(b"\x01" * 3000)
    # what ClamAV does by itself with a limit and no alert: skips the file and calls it OK
    plain = subprocess.run(
        [clamscan, f"--database={db}", "--max-filesize=1000", "--no-summary", str(files)],
        capture_output=True,
        check=False,
    )
    assert plain.returncode == 0
    assert b"OK" in plain.stdout
    # ours passes the limit explicitly, asks for an alert, and reports the file as not scanned
    scanner = ClamavScanner(database_dir=db, max_file_bytes=1000)
    result = scanner.scan(files, ["big.bin"])
    assert (result.status, result.reason) == (ScanStatus.ERROR, "scan.clamav_limits_exceeded")
    assert "big.bin" in result.detail
    # our own limit is 64 GiB; clamscan is given what it can do (2 GiB - 1)
    assert ClamavScanner().limit_bytes == CLAMAV_MAX_BYTES < MAX_SCAN_BYTES


def test_an_optional_scanner_that_is_missing_says_so(tmp_path: Path) -> None:
    scanner = ClamavScanner(executable="no-such-clamscan-ywtb", required=False)
    result = scanner.scan(tmp_path, [])
    assert (result.status, result.required, result.ran) == (ScanStatus.NOT_AVAILABLE, False, False)


def test_the_streamed_eicar_search_finds_it_split_anywhere() -> None:
    data = b"\x00" * 300 + EICAR + b"\x00" * 300
    for cut in range(1, len(data)):  # every place a chunk boundary can fall
        stream = EicarStream()
        stream.feed(data[:cut])
        stream.feed(data[cut:])
        assert stream.hit, cut
    almost = EicarStream()
    for part in (EICAR[:40], b"x", EICAR[40:]):
        almost.feed(part)
    assert not almost.hit


def test_the_detector_trusts_a_byte_scan_done_while_staging(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"clean")
    (tmp_path / "b.ofd").write_bytes(_zip({"Doc_0/x.bin": EICAR}))
    # the byte scan said "hit" for a.bin: believed without reading it again; a ZIP container
    # is still opened and its members searched
    result = EicarDetector({"a.bin": True, "b.ofd": False}).scan(tmp_path, ["a.bin", "b.ofd"])
    assert {f.path for f in result.findings} == {"a.bin", "b.ofd"}
