"""archive.storage: content-addressed, write-once, atomic, read-only, disposal-only deletion."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.errors import (
    BlobConflict,
    BlobNotFound,
    DigestMismatch,
    DisposalRefused,
    FileTooLarge,
)
from archive.storage import (
    BlobStore,
    Digests,
    DisposableBlobStore,
    DisposalRecord,
    FilesystemBlobStore,
    hash_stream,
)
from trust.crypto import sm3_hex
from trust.errors import InvalidInput

DATA = "办件材料 bytes\n".encode() * 1000


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "store")


def _record(**changes: object) -> DisposalRecord:
    values: dict[str, object] = {
        "register_number": "XH-2056-001",
        "archival_code": "A439-WS·2026·D10·XK-005",
        "approved_by": "档案鉴定委员会",
        "approved_at": datetime(2036, 6, 1, tzinfo=UTC),
        "reason": "保管期限届满，经鉴定无继续保存价值",
    }
    values.update(changes)
    return DisposalRecord(**values)  # type: ignore[arg-type]


def test_implements_the_protocols(store: FilesystemBlobStore) -> None:
    assert isinstance(store, BlobStore)
    assert isinstance(store, DisposableBlobStore)
    assert not hasattr(store, "delete")  # removal only through dispose()


def test_the_address_is_the_sm3_of_the_content(store: FilesystemBlobStore) -> None:
    blob = store.put_stream(io.BytesIO(DATA))
    assert blob.address == sm3_hex(DATA)
    assert blob.size == len(DATA)
    assert blob.created
    assert store.exists(blob.address)
    assert store.size(blob.address) == len(DATA)
    with store.get_stream(blob.address) as fh:
        assert fh.read() == DATA
    assert list(store.list()) == [blob.address]
    assert list(store.list(blob.address[:3])) == [blob.address]
    assert list(store.list("f" if blob.address[0] != "f" else "0")) == []


def test_objects_are_read_only_and_no_temporary_file_remains(store: FilesystemBlobStore) -> None:
    blob = store.put_stream(io.BytesIO(DATA))
    mode = store.path_of(blob.address).stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert list((store.root / ".tmp").iterdir()) == []


def test_storing_the_same_bytes_again_is_a_no_op(store: FilesystemBlobStore) -> None:
    first = store.put_stream(io.BytesIO(DATA))
    again = store.put_stream(io.BytesIO(DATA))
    assert again.address == first.address
    assert not again.created


def test_an_existing_object_with_other_bytes_is_never_overwritten(
    store: FilesystemBlobStore,
) -> None:
    blob = store.put_stream(io.BytesIO(DATA))
    path = store.path_of(blob.address)
    os.chmod(path, 0o600)
    path.write_bytes(b"rotted" + DATA[6:])  # corruption under the same name
    with pytest.raises(BlobConflict) as err:
        store.put_stream(io.BytesIO(DATA))
    assert err.value.code == "archive.blob_conflict"
    assert path.read_bytes().startswith(b"rotted")  # evidence kept, not replaced


def test_expected_digest_mismatch_stores_nothing(store: FilesystemBlobStore) -> None:
    with pytest.raises(DigestMismatch):
        store.put_stream(io.BytesIO(DATA), expected_sm3=sm3_hex(b"other"))
    assert list(store.list()) == []
    assert list((store.root / ".tmp").iterdir()) == []


def test_size_limit_stores_nothing(store: FilesystemBlobStore) -> None:
    with pytest.raises(FileTooLarge):
        store.put_stream(io.BytesIO(DATA), max_bytes=100)
    assert list(store.list()) == []


def test_missing_objects_and_bad_addresses(store: FilesystemBlobStore) -> None:
    absent = sm3_hex(b"absent")
    assert not store.exists(absent)
    with pytest.raises(BlobNotFound):
        store.get_stream(absent)
    with pytest.raises(BlobNotFound):
        store.size(absent)
    for bad in ("../../etc/passwd", "ABC", absent.upper(), absent + "0"):
        with pytest.raises(InvalidInput):
            store.exists(bad)


def test_disposal_needs_a_complete_record_and_is_logged(store: FilesystemBlobStore) -> None:
    blob = store.put_stream(io.BytesIO(DATA))
    for bad in (_record(register_number=" "), _record(approved_at=datetime(2036, 6, 1))):
        with pytest.raises(DisposalRefused):
            store.dispose(blob.address, record=bad)
    assert store.exists(blob.address)
    store.dispose(blob.address, record=_record())
    assert not store.exists(blob.address)
    log = (store.root / "disposals.jsonl").read_text(encoding="utf-8")
    assert blob.address in log
    assert "XH-2056-001" in log
    with pytest.raises(BlobNotFound):
        store.dispose(blob.address, record=_record())


@pytest.mark.parametrize("size", [0, 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 17])
@pytest.mark.parametrize("with_sink", [True, False])
def test_hash_stream_copies_while_hashing_with_bounded_chunks(size: int, with_sink: bool) -> None:
    """One chunk or many, with a sink (SHA-256 in the writer thread) or without."""
    data = os.urandom(size)
    sink = io.BytesIO() if with_sink else None
    digests = hash_stream(io.BytesIO(data), sink=sink)
    if sink is not None:
        assert sink.getvalue() == data
    assert digests.sm3 == sm3_hex(data)
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.size == len(data)


def test_hash_stream_reports_a_failing_sink() -> None:
    class Broken(io.BytesIO):
        def write(self, b: object) -> int:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        hash_stream(io.BytesIO(b"x" * (5 * 1024 * 1024)), sink=Broken())


def _staged(folder: Path, name: str, data: bytes) -> tuple[Path, Digests]:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path, Digests(sm3_hex(data), hashlib.sha256(data).hexdigest(), len(data))


def test_put_files_adopts_staged_files_by_link(store: FilesystemBlobStore, tmp_path: Path) -> None:
    """Each staged file becomes the object under its SM3 (the same inode: no copy), read-only;
    the same bytes again are renewed, not replaced, and a source that vanished is an error."""
    items = [_staged(tmp_path / "a", f"f{i}", DATA + bytes([i])) for i in range(3)]
    blobs = store.put_files(items)
    assert [b.created for b in blobs] == [True, True, True]
    for (path, digests), blob in zip(items, blobs, strict=True):
        stored = store.path_of(blob.address)
        assert blob.address == digests.sm3
        assert os.stat(stored).st_ino == os.stat(path).st_ino
        assert not os.stat(stored).st_mode & 0o222
    again = [_staged(tmp_path / "b", "g", DATA + bytes([1]))]
    assert [b.created for b in store.put_files(again)] == [False]
    assert os.stat(store.path_of(again[0][1].sm3)).st_ino == os.stat(items[1][0]).st_ino
    gone = _staged(tmp_path / "c", "h", b"never stored")
    gone[0].unlink()
    with pytest.raises(FileNotFoundError):
        store.put_files([gone])
    assert not store.exists(gone[1].sm3)


def test_put_files_never_replaces_a_rotten_object(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    path, digests = _staged(tmp_path / "a", "f", DATA)
    store.put_files([(path, digests)])
    stored = store.path_of(digests.sm3)
    os.chmod(stored, 0o600)
    stored.write_bytes(b"rotted" + DATA[6:])  # corruption under the same name (same inode)
    fresh = _staged(tmp_path / "b", "g", DATA)
    with pytest.raises(BlobConflict):
        store.put_files([fresh])
    assert stored.read_bytes().startswith(b"rotted")  # evidence kept, not replaced


def test_new_directories_are_made_durable_in_their_parents(
    store: FilesystemBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linking into a fresh ``sm3/<aa>/<bb>`` fsyncs ``<bb>`` (the new name), ``<aa>`` (the
    entry of ``<bb>``) and ``sm3`` (the entry of ``<aa>``); an object in an existing folder
    fsyncs only that folder."""
    import archive.storage as storage

    synced: list[str] = []
    monkeypatch.setattr(storage, "_fsync_dir", lambda path: synced.append(str(path)))
    path, digests = _staged(tmp_path / "a", "f", DATA)
    store.put_files([(path, digests)])
    leaf = store.path_of(digests.sm3).parent
    assert sorted(synced) == sorted(map(str, (leaf.parent.parent, leaf.parent, leaf)))
    synced.clear()
    blob = store.put_stream(io.BytesIO(DATA + b"!"))  # the streaming path does the same
    leaf2 = store.path_of(blob.address).parent
    assert str(leaf2) in synced
    assert (str(leaf2.parent) in synced) is (leaf2 != leaf)  # a new <bb> is entered in <aa>
