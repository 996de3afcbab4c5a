"""archive.fixity and stored bags: a package stored in the BlobStore re-hashes clean; a rotted
or vanished object is named; the root is checked; an export validates with LoC bagit."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from archive.bag import (
    BagEntry,
    BagInfo,
    DirectoryBagSource,
    StoredBag,
    StoredBagSource,
    export_bag,
    store_bag,
    write_bag,
)
from archive.errors import BagMalformed, DigestMismatch
from archive.fixity import check_fixity, check_stored
from archive.storage import FilesystemBlobStore
from tests.unit.archive.case_factory import NOW


@pytest.fixture
def stored(tmp_path: Path) -> tuple[FilesystemBlobStore, StoredBag, Path]:
    entries = [
        BagEntry("representations/original/data/0001-申请表.pdf", b"%PDF-1.7 fake" * 100),
        BagEntry("representations/original/data/0002.jpg", os.urandom(5000)),
        BagEntry("metadata/descriptive/case.json", b'{"case": 1}'),
    ]
    write_bag(tmp_path / "bag", entries, BagInfo("SP-1"), bagging_date=date(2026, 11, 22))
    store = FilesystemBlobStore(tmp_path / "store")
    return store, store_bag(tmp_path / "bag", store), tmp_path / "bag"


def _corrupt(store: FilesystemBlobStore, address: str) -> None:
    path = store.path_of(address)
    os.chmod(path, 0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _address(store: FilesystemBlobStore, bag: StoredBag, path: str) -> str:
    return StoredBagSource(store, bag)._addresses[path]


def test_a_stored_package_passes_fixity(
    stored: tuple[FilesystemBlobStore, StoredBag, Path],
) -> None:
    store, bag, _ = stored
    assert bag.payload_oxum.endswith(".3")
    assert store.exists(bag.root_sm3)
    report = check_stored(store, bag, checked_at=NOW)
    assert report.ok, report.to_dict()
    assert report.total_bytes > 5_000
    assert report.mb_per_second > 0
    assert report.to_dict()["outcome"] == "pass"


def test_a_rotted_object_is_named(stored: tuple[FilesystemBlobStore, StoredBag, Path]) -> None:
    store, bag, _ = stored
    target = "data/representations/original/data/0002.jpg"
    _corrupt(store, _address(store, bag, target))
    report = check_stored(store, bag, checked_at=NOW)
    assert not report.ok
    assert report.changed == (target,)


def test_a_vanished_object_is_named(stored: tuple[FilesystemBlobStore, StoredBag, Path]) -> None:
    store, bag, _ = stored
    target = "data/metadata/descriptive/case.json"
    store.path_of(_address(store, bag, target)).unlink()
    report = check_stored(store, bag, checked_at=NOW)
    assert report.missing == (target,)


def test_a_rotted_root_is_reported_not_raised(
    stored: tuple[FilesystemBlobStore, StoredBag, Path],
) -> None:
    store, bag, _ = stored
    _corrupt(store, bag.root_sm3)
    report = check_stored(store, bag, checked_at=NOW)
    assert not report.ok
    store.path_of(bag.root_sm3).unlink()
    gone = check_stored(store, bag, checked_at=NOW)
    assert [p.code for p in gone.problems] == ["fixity.root_unreadable"]


def test_fixity_of_a_directory_names_changed_missing_extra(tmp_path: Path) -> None:
    written = write_bag(
        tmp_path / "bag",
        [BagEntry("a.txt", b"a" * 100), BagEntry("b.txt", b"b" * 100)],
        BagInfo("SP-2"),
        bagging_date=date(2026, 11, 22),
    )
    (tmp_path / "bag/data/a.txt").write_bytes(b"A" * 100)
    (tmp_path / "bag/data/b.txt").unlink()
    (tmp_path / "bag/data/c.txt").write_bytes(b"c")
    report = check_fixity(
        DirectoryBagSource(tmp_path / "bag"), expected_root=written.root_sm3, checked_at=NOW
    )
    assert (report.changed, report.missing, report.extra) == (
        ("data/a.txt",),
        ("data/b.txt",),
        ("data/c.txt",),
    )


def test_store_bag_refuses_a_tampered_bag(
    stored: tuple[FilesystemBlobStore, StoredBag, Path], tmp_path: Path
) -> None:
    store, _, bag_dir = stored
    (bag_dir / "data/metadata/descriptive/case.json").write_bytes(b'{"case": 2}')
    with pytest.raises(DigestMismatch):
        store_bag(bag_dir, store)
    (bag_dir / "data/extra.txt").write_bytes(b"x")
    with pytest.raises(BagMalformed):
        store_bag(bag_dir, store)


def test_an_exported_stored_bag_validates_with_loc_bagit(
    stored: tuple[FilesystemBlobStore, StoredBag, Path], tmp_path: Path, bagit: ModuleType
) -> None:
    store, bag, original = stored
    export_bag(StoredBagSource(store, bag), tmp_path / "export")
    exported = sorted(p.relative_to(tmp_path / "export") for p in (tmp_path / "export").rglob("*"))
    assert exported == sorted(p.relative_to(original) for p in original.rglob("*"))
    loc = bagit.Bag(str(tmp_path / "export"))
    assert sorted(loc.algorithms) == ["sha256", "sm3"]
    loc.validate()
