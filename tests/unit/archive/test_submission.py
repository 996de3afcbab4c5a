"""archive.submission: a submitted case (folder layouts, zip, hostile zips) becomes private,
read-only staged copies whose digests were computed while copying them, so nothing later hashes
or copies them again; progress is reported by bytes."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from archive.case import load_case
from archive.checks_files import examine
from archive.errors import CaseMetadataInvalid, UnsafePath
from archive.storage import hash_stream
from archive.submission import IngestProgress, normalise_submission
from tests.unit.archive.case_factory import CaseFolder
from tests.unit.archive.test_scan import EICAR
from trust.errors import InvalidInput


def _assert_private_copies(source_files: Path, staged: Path, digests: dict[str, object]) -> None:
    names = sorted(p.name for p in source_files.iterdir())
    assert sorted(p.name for p in (staged / "files").iterdir()) == names
    assert sorted(digests) == names
    for name in names:
        copy, original = staged / "files" / name, source_files / name
        assert copy.read_bytes() == original.read_bytes()
        assert os.stat(copy).st_ino != os.stat(original).st_ino  # a copy, not a link
        assert not os.stat(copy).st_mode & 0o222  # read-only
        with open(copy, "rb") as fh:
            assert digests[name] == hash_stream(fh)


def test_a_folder_with_files_is_copied_and_hashed_once(
    case_folder: CaseFolder, tmp_path: Path
) -> None:
    events: list[IngestProgress] = []
    out = normalise_submission(case_folder.path, tmp_path / "stg", progress=events.append)
    _assert_private_copies(case_folder.path / "files", out.folder, dict(out.digests))
    assert (out.folder / "case.json").read_bytes() == (case_folder.path / "case.json").read_bytes()
    total = sum(p.stat().st_size for p in (case_folder.path / "files").iterdir())
    assert out.total_bytes == total
    assert {e.stage for e in events} == {"normalising"}
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert (events[-1].done, events[-1].total) == (total, total)


def test_case_json_beside_its_files(case_folder: CaseFolder, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "case.json").write_bytes((case_folder.path / "case.json").read_bytes())
    for f in (case_folder.path / "files").iterdir():
        (flat / f.name).write_bytes(f.read_bytes())
    out = normalise_submission(flat, tmp_path / "stg")
    _assert_private_copies(case_folder.path / "files", out.folder, dict(out.digests))


def test_a_zip_with_a_top_folder_is_extracted_once(case_folder: CaseFolder, tmp_path: Path) -> None:
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in case_folder.path.rglob("*"):
            if p.is_file():
                zf.write(p, "top/" + p.relative_to(case_folder.path).as_posix())
    out = normalise_submission(archive, tmp_path / "stg")
    assert load_case(out.folder).case_number == "SP20260510-000123"
    _assert_private_copies(case_folder.path / "files", out.folder, dict(out.digests))
    # the arranged files are the extracted ones (linked), not a second copy
    some = next(iter(out.digests))
    assert os.stat(out.folder / "files" / some).st_nlink == 2
    # extracted in two lanes, each member probed once, under its name in files/
    assert list(out.facts) == list(out.digests)
    for name, facts in out.facts.items():
        assert facts == examine(out.folder / "files" / name, name)


@pytest.mark.parametrize("member", ["../x", "/etc/x", "a/../../x", "a\\b"])
def test_escaping_zip_members_are_refused(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("case.json", "{}")
        zf.writestr(member, "x")
    with pytest.raises(UnsafePath):
        normalise_submission(archive, tmp_path / "stg")


def test_a_symlink_in_the_submission_is_refused(case_folder: CaseFolder, tmp_path: Path) -> None:
    os.symlink("/etc/passwd", case_folder.path / "files" / "link.txt")
    with pytest.raises(UnsafePath):
        normalise_submission(case_folder.path, tmp_path / "stg")


def test_a_zip_without_case_json(tmp_path: Path) -> None:
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("files/a.pdf", "x")
    with pytest.raises(CaseMetadataInvalid):
        normalise_submission(archive, tmp_path / "stg")


def test_neither_folder_nor_zip(tmp_path: Path) -> None:
    junk = tmp_path / "x.bin"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InvalidInput):
        normalise_submission(junk, tmp_path / "stg")


def test_the_eicar_search_rides_on_the_copy(case_folder: CaseFolder, tmp_path: Path) -> None:
    (case_folder.path / "files" / "zz.bin").write_bytes(b"\x00" * 2_000_000 + EICAR)
    out = normalise_submission(case_folder.path, tmp_path / "stg")
    try:
        assert out.eicar["zz.bin"] is True
        assert not any(hit for name, hit in out.eicar.items() if name != "zz.bin")
        durable = out.durable()  # the staged files, flushed in the background
        assert os.stat(out.folder / "files" / "zz.bin").st_ino in durable
    finally:
        out.close()


def test_the_file_probes_ride_on_the_copy(case_folder: CaseFolder, tmp_path: Path) -> None:
    """Every copied file is probed from its private copy while the others are still copied,
    with the same facts ``examine`` finds on its own; the digests and order do not depend on
    which lane copied a file."""
    # Random bytes after a zero byte: random bytes alone look like an MP3 frame or XML about
    # one time in 800 (checks_files.probe reads the first bytes); a zero byte starts no format.
    (case_folder.path / "files" / "zz-large.bin").write_bytes(b"\x00" + os.urandom(2_999_999))
    out = normalise_submission(case_folder.path, tmp_path / "stg")
    try:
        names = sorted(p.name for p in (case_folder.path / "files").iterdir())
        assert list(out.digests) == names == list(out.facts)
        for name in names:
            staged = out.folder / "files" / name
            assert out.facts[name] == examine(staged, name)
        assert out.facts["zz-large.bin"].probe.format == "unknown"
        assert {f.probe.format for f in out.facts.values()} >= {"pdf", "unknown"}
    finally:
        out.close()


def test_a_failing_copy_fails_the_submission(
    case_folder: CaseFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in one copying lane is raised by ``normalise_submission``, not lost."""
    import archive.submission as submission

    real = submission._copy

    def failing(src, dest, meter, syncer):  # type: ignore[no-untyped-def]
        if dest.name == "zz-bad.bin":
            raise OSError(28, "No space left on device")
        return real(src, dest, meter, syncer)

    (case_folder.path / "files" / "zz-bad.bin").write_bytes(b"x" * 1000)
    monkeypatch.setattr(submission, "_copy", failing)
    with pytest.raises(OSError, match="No space left"):
        normalise_submission(case_folder.path, tmp_path / "stg")
