"""archive.ingest: the hash-chained processing trail, the hard-linked staging bag (same tag files
as ``write_bag``), publication into the store by hard link without a second hash, and the
archive signature (read back by the seals CMS parser and verified with the signer's key)."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from archive.bag import BagEntry, BagInfo, DirectoryBagSource, validate_bag, write_bag
from archive.case import load_case
from archive.ingest import publish_bag, sign_root, trail_lines, write_linked_bag
from archive.storage import Digests, FilesystemBlobStore, hash_stream
from archive.submission import IngestProgress
from seals.checks import check_sm2_signature
from seals.cms import parse_signed_data
from tests.unit.archive.case_factory import CaseFolder
from tests.unit.seals.pdf_fixtures import make_test_signer
from trust.crypto import sm3
from trust.errors import InvalidInput


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


def _linked_bag(case_folder: CaseFolder, tmp_path: Path) -> tuple[Path, dict[Path, Digests]]:
    staged = tmp_path / "staged"
    staged.mkdir()
    known: dict[Path, Digests] = {}
    for p in sorted((case_folder.path / "files").iterdir()):
        copy = staged / p.name
        copy.write_bytes(p.read_bytes())
        with open(copy, "rb") as fh:
            known[copy] = hash_stream(fh)
    return staged, known


def test_publish_links_the_staged_files_into_the_store_without_hashing_them_again(
    case_folder: CaseFolder, tmp_path: Path
) -> None:
    _staged, known = _linked_bag(case_folder, tmp_path)
    entries = [BagEntry(f"o/{p.name}", p) for p in known]
    bag = write_linked_bag(
        tmp_path / "bag", entries, BagInfo("SP-1"), known, bagging_date=date(2026, 1, 2)
    )
    store = FilesystemBlobStore(tmp_path / "store", fsync=False)
    events: list[IngestProgress] = []
    stored = publish_bag(bag, store, progress=events.append)
    assert stored.root_sm3 == bag.root_sm3
    big = max(known, key=lambda p: known[p].size)
    # the very same inode: linked, not copied; read-only from now on
    assert os.stat(store.path_of(known[big].sm3)).st_ino == os.stat(big).st_ino
    assert not os.stat(big).st_mode & 0o222
    assert {e.stage for e in events} == {"publishing"}
    assert events[-1].done == events[-1].total > sum(d.size for d in known.values())


def test_publish_refuses_a_bag_whose_files_changed(case_folder: CaseFolder, tmp_path: Path) -> None:
    _staged, known = _linked_bag(case_folder, tmp_path)
    entries = [BagEntry(f"o/{p.name}", p) for p in known]
    bag = write_linked_bag(
        tmp_path / "bag", entries, BagInfo("SP-1"), known, bagging_date=date(2026, 1, 2)
    )
    (bag.path / "data" / "o" / "smuggled.txt").write_bytes(b"x")
    store = FilesystemBlobStore(tmp_path / "store", fsync=False)
    with pytest.raises(InvalidInput) as err:
        publish_bag(bag, store)
    assert err.value.code == "archive.bag_changed"
    assert list(store.list()) == []
