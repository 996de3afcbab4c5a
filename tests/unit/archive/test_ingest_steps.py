"""archive.ingest: submission normalisation (folder layouts, zip, hostile zips), the hash-chained
processing trail, the hard-linked staging bag (same tag files as ``write_bag``) and the archive
signature (read back by the seals CMS parser and verified with the signer's key)."""

from __future__ import annotations

import itertools
import json
import os
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from archive.bag import BagEntry, BagInfo, DirectoryBagSource, validate_bag, write_bag
from archive.case import load_case
from archive.errors import UnsafePath
from archive.ingest import normalise_submission, sign_root, trail_lines, write_linked_bag
from archive.storage import hash_stream
from seals.checks import check_sm2_signature
from seals.cms import parse_signed_data
from tests.unit.archive.case_factory import CaseFolder
from tests.unit.seals.pdf_fixtures import make_test_signer
from trust.crypto import sm3
from trust.errors import InvalidInput


def test_a_folder_with_files_is_taken_as_is(case_folder: CaseFolder, tmp_path: Path) -> None:
    out = normalise_submission(case_folder.path, tmp_path / "stg")
    assert sorted(p.name for p in (out / "files").iterdir()) == sorted(
        p.name for p in (case_folder.path / "files").iterdir()
    )
    assert (out / "case.json").read_bytes() == (case_folder.path / "case.json").read_bytes()


def test_case_json_beside_its_files(case_folder: CaseFolder, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "case.json").write_bytes((case_folder.path / "case.json").read_bytes())
    for f in (case_folder.path / "files").iterdir():
        (flat / f.name).write_bytes(f.read_bytes())
    out = normalise_submission(flat, tmp_path / "stg")
    assert len(list((out / "files").iterdir())) == len(list((case_folder.path / "files").iterdir()))


def test_a_zip_with_a_top_folder(case_folder: CaseFolder, tmp_path: Path) -> None:
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in case_folder.path.rglob("*"):
            if p.is_file():
                zf.write(p, "top/" + p.relative_to(case_folder.path).as_posix())
    out = normalise_submission(archive, tmp_path / "stg")
    assert load_case(out).case_number == "SP20260510-000123"


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


def test_neither_folder_nor_zip(tmp_path: Path) -> None:
    junk = tmp_path / "x.bin"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InvalidInput):
        normalise_submission(junk, tmp_path / "stg")


def test_the_trail_is_hash_chained(case_folder: CaseFolder) -> None:
    lines = trail_lines(load_case(case_folder.path)).splitlines()
    assert [json.loads(x)["node"] for x in lines] == [
        "申请",
        "受理",
        "审查",
        "决定",
        "制证",
        "送达",
        "办结",
    ]
    assert json.loads(lines[0])["prev_sm3"] == "0" * 64
    for prev, line in itertools.pairwise(lines):
        assert json.loads(line)["prev_sm3"] == sm3(prev).hex()


def test_the_linked_bag_equals_write_bag(case_folder: CaseFolder, tmp_path: Path) -> None:
    files = sorted((case_folder.path / "files").iterdir())
    entries = [BagEntry(f"o/{p.name}", p) for p in files] + [BagEntry("m/x.json", b"{}")]
    info = BagInfo("SP-1", archival_code="A439-WS·2026·D30-0001")
    known = {}
    for p in files[:3]:
        with open(p, "rb") as fh:
            known[p] = hash_stream(fh)
    linked = write_linked_bag(tmp_path / "a", entries, info, known, bagging_date=date(2026, 1, 2))
    copied = write_bag(tmp_path / "b", entries, info, bagging_date=date(2026, 1, 2))
    assert linked.root_sm3 == copied.root_sm3
    assert linked.root_sha256 == copied.root_sha256
    for name in ("bag-info.txt", "manifest-sm3.txt", "tagmanifest-sha256.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert os.stat(tmp_path / "a" / "data/o" / files[0].name).st_ino == files[0].stat().st_ino
    assert validate_bag(DirectoryBagSource(tmp_path / "a"), expected_root=linked.root_sm3).valid


def test_the_archive_signature_verifies_and_binds_the_tag_manifest() -> None:
    signer = make_test_signer("档案馆")
    data = b"0123  bag-info.txt\n"
    der = sign_root(data, signer=signer, signing_time=datetime(2026, 11, 22, tzinfo=UTC))
    sd = parse_signed_data(der)
    assert sd.form == "A"
    assert sd.covered_digest == sm3(data)
    assert sd.signer_cert == signer.chain[0]
    check, _ = check_sm2_signature(
        sd.signer_cert, sd.signed_message, sd.signature, sd.signature_algorithm
    )
    assert check.ok
    forged = bytearray(der)
    forged[-3] ^= 0x01
    sd2 = parse_signed_data(bytes(forged))
    bad, _ = check_sm2_signature(
        sd2.signer_cert or b"", sd2.signed_message, sd2.signature, sd2.signature_algorithm
    )
    assert not bad.ok
