"""Content-addressed, write-once blob storage for archive packages (earchive spec §7.2, §12).

``BlobStore`` is the one storage interface of the archive: ``put_stream`` streams bytes in,
computes SM3 (GB/T 32905-2016) and SHA-256 in the same pass and files them under their **SM3 hex
digest** (the content address); ``get_stream``/``exists``/``size``/``list`` read. There is no
``delete``: removal is only ``DisposableBlobStore.dispose`` with a ``DisposalRecord`` (the
destruction register entry, GB/T 18894-2016 disposition; "never delete automatically").

``FilesystemBlobStore`` keeps ``<root>/sm3/<aa>/<bb>/<hex>``: the bytes go to a temporary file in
``<root>/.tmp`` (same file system), are fsynced, made read-only (0444) and then **hard-linked** to
their final name. ``link`` fails when the name exists, so a write never replaces an object (the
local equivalent of S3 ``If-None-Match: *``); the directory is fsynced afterwards, and so is the
parent of each directory the link needed (a new directory's entry lives in its parent). Storing the
same bytes twice is a no-op after the existing object is re-hashed; an existing object with other
bytes (which can only be corruption) is never overwritten (``BlobConflict``).

``put_file`` (``LinkingBlobStore``) adopts a private staged file whose digests the caller computed
while writing it: the file is fsynced, made read-only and hard-linked under its address, so the
ingest neither copies nor re-hashes it (a different file system falls back to ``put_stream``).

Crash safety and the inventory sweep (``archive.inventory``): a writer holds an exclusive
``flock`` on its ``.tmp/put-*`` file until the object is linked, so a temporary file that can be
locked belongs to a dead process (``remove_stale_temp``). Objects that no package references
(published by an ingest that died before its commit) are removed by ``discard_unreferenced``
only when their last write or reuse is older than a grace period, under an exclusive lock on
``<root>/.lock``; every writer takes that lock shared while it links an object or renews one
it reuses (``os.utime``), so a concurrent ingest either renews an object before the sweep looks
at it or stores it anew. Each removal is appended to ``<root>/inventory.jsonl``.

Object-store seam (S3-compatible, earchive spec §12): an implementation of the same protocol keys
objects ``sm3/<hex>``; because the address is known only after the stream is read, it uploads to
a staging key (multipart above a part size, the 5 GB single-PUT cap) while hashing, then copies
to ``sm3/<hex>`` with ``If-None-Match: *`` under object lock (COMPLIANCE retention for D10/D30,
legal hold for Y), stores the SHA-256 as the object checksum and deletes the staging key;
``dispose`` lifts the hold only with a ``DisposalRecord``. Tests use ``moto[server]``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import queue
import re
import secrets
import stat
import threading
from collections.abc import Callable, Container, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO, Final, Protocol, TypeVar, runtime_checkable

from archive.errors import (
    BlobConflict,
    BlobNotFound,
    DigestMismatch,
    DisposalRefused,
    FileTooLarge,
)
from trust.crypto import SM3
from trust.crypto.compare import constant_time_equal
from trust.errors import InvalidInput

__all__ = [
    "CHUNK_SIZE",
    "BlobStore",
    "Digests",
    "DisposableBlobStore",
    "DisposalRecord",
    "FilesystemBlobStore",
    "LinkingBlobStore",
    "Sink",
    "StoredBlob",
    "fsync_file",
    "hash_stream",
    "is_address",
    "remove_if_abandoned",
]

#: bytes read per step everywhere in the archive: memory stays bounded whatever the file size
CHUNK_SIZE: Final = 1024 * 1024
_ADDRESS = re.compile(r"[0-9a-f]{64}")


def is_address(value: str) -> bool:
    """A content address: 64 lower-case hex characters (an SM3 digest)."""
    return bool(_ADDRESS.fullmatch(value))


def _check_address(address: str) -> str:
    if not isinstance(address, str) or not is_address(address):
        raise InvalidInput("not a content address (64 lower-case hex)", code="archive.bad_address")
    return address


@dataclass(frozen=True, slots=True)
class Digests:
    """SM3 and SHA-256 (lower-case hex) and the length of one byte stream."""

    sm3: str
    sha256: str
    size: int


class Sink(Protocol):
    """Where ``hash_stream`` copies to (a binary file, or a wrapper around one)."""

    def write(self, data: bytes, /) -> int: ...


def hash_stream(
    stream: IO[bytes],
    *,
    sink: Sink | None = None,
    max_bytes: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    tap: Callable[[bytes], None] | None = None,
) -> Digests:
    """One read pass: SM3 + SHA-256 + length, copying to ``sink`` when given, chunk by chunk;
    ``on_chunk`` hears the length of every chunk (progress by bytes), ``tap`` sees every chunk
    (a content scanner riding on the same pass).

    With a sink, writing runs in a helper thread fed through a queue of at most
    ``_PIPELINE_DEPTH`` chunks, and that thread also computes the SHA-256 (file writes and
    ``hashlib`` release the GIL, so both run beside the SM3 on a second core); memory stays
    bounded at a few MiB whatever the stream length."""
    h_sm3, h_sha = SM3(), hashlib.sha256()
    size = 0
    first: bytes | None = None  # a stream of one chunk is written without a helper thread
    writer: _Writer | None = None
    try:
        while chunk := stream.read(CHUNK_SIZE):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise FileTooLarge(f"stream longer than {max_bytes} bytes")
            if sink is not None:
                if writer is None and first is None:
                    first = chunk
                else:
                    if writer is None:
                        writer = _Writer(sink, h_sha)
                        writer.put(first or b"")
                        first = None
                    writer.put(chunk)
            else:
                h_sha.update(chunk)
            h_sm3.update(chunk)
            if tap is not None:
                tap(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
        if sink is not None and first is not None:
            h_sha.update(first)
            sink.write(first)
    finally:
        if writer is not None:
            writer.close()
    return Digests(h_sm3.hexdigest(), h_sha.hexdigest(), size)


_PIPELINE_DEPTH: Final = 4


class _Writer:
    """Hashes chunks into ``digest`` and writes them to ``sink`` in a thread, in order;
    re-raises the thread's error on ``put``/``close``."""

    def __init__(self, sink: Sink, digest: hashlib._Hash) -> None:
        self._sink = sink
        self._digest = digest
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_PIPELINE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="archive-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._digest.update(chunk)
                    self._sink.write(chunk)
                except BaseException as exc:
                    self._error = exc

    def put(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


@dataclass(frozen=True, slots=True)
class StoredBlob:
    address: str  # SM3 hex of the content
    sha256: str
    size: int
    created: bool  # False: the same bytes were already stored


@dataclass(frozen=True, slots=True)
class DisposalRecord:
    """The approved destruction (销毁) that allows removing objects: register number (销毁清册),
    the archival code concerned, who approved, when, and why. Every field is required."""

    register_number: str
    archival_code: str
    approved_by: str
    approved_at: datetime
    reason: str

    def check(self) -> None:
        blank = [
            name
            for name in ("register_number", "archival_code", "approved_by", "reason")
            if not str(getattr(self, name)).strip()
        ]
        if blank:
            raise DisposalRefused(f"disposal record lacks {', '.join(blank)}")
        if self.approved_at.tzinfo is None:
            raise DisposalRefused("disposal approval time must carry a time zone")


@runtime_checkable
class BlobStore(Protocol):
    """Write-once content-addressed storage. Implementations never overwrite and never delete
    except through ``DisposableBlobStore.dispose``."""

    def put_stream(
        self, stream: BinaryIO, *, expected_sm3: str | None = None, max_bytes: int | None = None
    ) -> StoredBlob:
        """Store the bytes of ``stream``; their SM3 hex is the address. With ``expected_sm3``
        a mismatch stores nothing and raises ``DigestMismatch``."""
        ...

    def get_stream(self, address: str) -> BinaryIO:
        """A readable binary stream of the object (the caller closes it); ``BlobNotFound``."""
        ...

    def exists(self, address: str) -> bool: ...

    def size(self, address: str) -> int: ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Addresses starting with ``prefix``, in ascending order."""
        ...


@runtime_checkable
class LinkingBlobStore(BlobStore, Protocol):
    """A store that can adopt a file already on its file system without copying it."""

    def put_file(self, path: Path, *, digests: Digests) -> StoredBlob:
        """Store the private file at ``path`` (nobody else may write to it: it is linked, not
        copied) under ``digests.sm3``, which the caller computed while writing the file."""
        ...

    def put_files(
        self,
        items: Sequence[tuple[Path, Digests]],
        *,
        on_stored: Callable[[StoredBlob], None] | None = None,
        synced: Container[int] = (),
    ) -> list[StoredBlob]:
        """``put_file`` for many files at once (durability work batched); ``on_stored`` hears
        each object as it is stored; ``synced`` names inodes already fsynced by the caller."""
        ...


@runtime_checkable
class DisposableBlobStore(BlobStore, Protocol):
    def dispose(self, address: str, *, record: DisposalRecord) -> None:
        """Remove one object under an approved disposal, recording it."""
        ...


class FilesystemBlobStore:
    """``BlobStore`` on a local directory (unit tests, single-node deployments, staging)."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self._root = Path(root)
        self._objects = self._root / "sm3"
        self._tmp = self._root / ".tmp"
        self._lock = self._root / ".lock"
        self._fsync = fsync
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        """``fcntl.LOCK_SH`` while linking or renewing an object, ``LOCK_EX`` while the
        inventory sweep removes one (module docstring)."""
        fd = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, address: str) -> Path:
        """Where the object lives (for tests and diagnostics; do not write to it)."""
        return Path(self._folder(_check_address(address)), address)

    def _folder(self, address: str) -> str:
        """``<root>/sm3/<aa>/<bb>`` of a checked address (a plain path: no pathlib per file)."""
        return os.path.join(self._objects, address[:2], address[2:4])

    # ------------------------------------------------------------------ write

    def put_stream(
        self, stream: BinaryIO, *, expected_sm3: str | None = None, max_bytes: int | None = None
    ) -> StoredBlob:
        if expected_sm3 is not None:
            _check_address(expected_sm3)
        tmp = self._tmp / f"put-{secrets.token_hex(12)}"
        try:
            # the file stays open and locked until it is linked: a lockable temporary file
            # belongs to a dead writer (remove_stale_temp)
            with open(tmp, "xb") as sink:
                fcntl.flock(sink.fileno(), fcntl.LOCK_EX)
                digests = hash_stream(stream, sink=sink, max_bytes=max_bytes)
                sink.flush()
                if self._fsync:
                    os.fsync(sink.fileno())
                if expected_sm3 is not None and not constant_time_equal(
                    digests.sm3.encode(), expected_sm3.encode()
                ):
                    raise DigestMismatch(
                        "the stream does not have the expected SM3 digest",
                        extra={"expected": expected_sm3, "actual": digests.sm3},
                    )
                os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                created = self._link_once(tmp, digests)
        finally:
            with suppress(FileNotFoundError):
                tmp.unlink()
        return StoredBlob(digests.sm3, digests.sha256, digests.size, created)

    def put_file(self, path: Path, *, digests: Digests) -> StoredBlob:
        """``LinkingBlobStore.put_file`` for one file (``put_files``)."""
        return self.put_files([(path, digests)])[0]

    def put_files(
        self,
        items: Sequence[tuple[Path, Digests]],
        *,
        on_stored: Callable[[StoredBlob], None] | None = None,
        synced: Container[int] = (),
    ) -> list[StoredBlob]:
        """``LinkingBlobStore.put_files``: every file fsynced (in parallel: the journal commits
        them together; ``synced`` inode numbers are durable already), made read-only and
        hard-linked under its address, then each new object's directory and the parent of
        each directory created fsynced (in parallel, once per directory). A file on another
        file system is copied instead (``put_stream``, checked against its SM3)."""
        unsynced: list[Path] = []
        for path, digests in items:
            _check_address(digests.sm3)
            st = os.stat(path)
            if st.st_size != digests.size:
                raise DigestMismatch(f"{path.name} is not {digests.size} bytes long")
            if st.st_ino not in synced:
                unsynced.append(path)
        if self._fsync:
            _in_parallel(fsync_file, unsynced)
        out: list[StoredBlob] = []
        dirs: set[str] = set()  # whose entries changed: fsynced once the batch is linked
        with self._locked(fcntl.LOCK_SH):  # once for the batch: one open and flock, not one each
            for path, digests in items:
                folder = self._folder(digests.sm3)  # checked above
                os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                try:
                    created = self._link_here(path, folder, digests, dirs)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
                    with open(path, "rb") as fh:
                        blob = self.put_stream(fh, expected_sm3=digests.sm3)
                else:
                    blob = StoredBlob(digests.sm3, digests.sha256, digests.size, created)
                    if created:
                        dirs.add(folder)
                out.append(blob)
                if on_stored is not None:
                    on_stored(blob)
        if self._fsync:
            _in_parallel(_fsync_dir, sorted(dirs))
        return out

    def _link_once(self, source: Path, digests: Digests) -> bool:
        folder = self._folder(digests.sm3)
        made: set[str] = set()
        with self._locked(fcntl.LOCK_SH):
            created = self._link_here(source, folder, digests, made)
        if created:
            made.add(folder)
        if self._fsync:
            for path in sorted(made):
                _fsync_dir(path)
        return created

    def _link_here(self, source: Path | str, folder: str, digests: Digests, made: set[str]) -> bool:
        """Hard-link ``source`` as ``folder/<sm3>`` (the caller holds the shared lock); False
        when that object exists already (its bytes checked, its time renewed). Directories
        this creates add their parents to ``made``: a new directory's own entry is durable
        only once its parent is fsynced (POSIX promises no more)."""
        final = os.path.join(folder, digests.sm3)
        try:
            os.link(source, final)  # fails if the name exists: never replaces an object
        except FileNotFoundError:
            if os.path.isdir(folder):
                raise  # the source is gone
            parent = os.path.dirname(folder)
            if not os.path.isdir(parent):
                os.makedirs(parent, exist_ok=True)
                made.add(os.path.dirname(parent))
            os.makedirs(folder, exist_ok=True)
            made.add(parent)
            return self._link_here(source, folder, digests, made)
        except FileExistsError:
            self._check_existing(Path(source), Path(final), digests)
            os.utime(final)  # reused: renewed, so the inventory sweep keeps it
            return False
        return True

    @staticmethod
    def _check_existing(source: Path, final: Path, digests: Digests) -> None:
        with suppress(OSError):
            if os.path.samefile(source, final):
                return  # the very same file (one bag holding the same bytes twice)
        with open(final, "rb") as existing:
            if hash_stream(existing).sm3 != digests.sm3:
                raise BlobConflict(
                    "an object with other bytes is stored under this address; not replaced",
                    extra={"address": digests.sm3},
                ) from None

    # ------------------------------------------------------------------ read

    def get_stream(self, address: str) -> BinaryIO:
        try:
            return open(self.path_of(address), "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"no object {address}") from None

    def exists(self, address: str) -> bool:
        return self.path_of(address).is_file()

    def size(self, address: str) -> int:
        try:
            return self.path_of(address).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"no object {address}") from None

    def list(self, prefix: str = "") -> Iterator[str]:
        if not re.fullmatch(r"[0-9a-f]{0,64}", prefix):
            raise InvalidInput("an address prefix is lower-case hex", code="archive.bad_address")
        for top in sorted(p for p in self._objects.iterdir() if p.is_dir()):
            if not (top.name.startswith(prefix[:2]) or prefix[:2].startswith(top.name)):
                continue
            for mid in sorted(p for p in top.iterdir() if p.is_dir()):
                for obj in sorted(mid.iterdir()):
                    if is_address(obj.name) and obj.name.startswith(prefix):
                        yield obj.name

    # ------------------------------------------------------------------ inventory

    def last_touched(self, address: str) -> float:
        """Epoch seconds of the object's last write, link or renewal (``BlobNotFound``)."""
        try:
            st = self.path_of(address).stat()
        except FileNotFoundError:
            raise BlobNotFound(f"no object {address}") from None
        return max(st.st_mtime, st.st_ctime)

    def discard_unreferenced(self, address: str, *, not_after: float, reason: str) -> int | None:
        """Remove an object that no package references when it was last touched before
        ``not_after`` (epoch seconds); returns the bytes removed, or ``None`` when it is kept
        (young, or gone already). The caller decides "unreferenced"; this only guards against
        a concurrent ingest that reuses the object (module docstring)."""
        path = self.path_of(address)
        with self._locked(fcntl.LOCK_EX):
            try:
                st = path.stat()
            except FileNotFoundError:
                return None
            if max(st.st_mtime, st.st_ctime) >= not_after:
                return None
            entry = {"address": address, "size": st.st_size, "reason": reason}
            self._journal("inventory.jsonl", entry)
            path.unlink()
        if self._fsync:
            _fsync_dir(path.parent)
        return st.st_size

    def remove_stale_temp(self, *, not_after: float) -> int:
        """Remove ``.tmp/put-*`` files of dead writers (lockable) written before ``not_after``."""
        removed = 0
        for tmp in sorted(self._tmp.glob("put-*")):
            if remove_if_abandoned(tmp, not_after):
                removed += 1
        return removed

    def _journal(self, name: str, entry: dict[str, object]) -> None:
        with open(self._root / name, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            log.flush()
            if self._fsync:
                os.fsync(log.fileno())

    # ------------------------------------------------------------------ disposal

    def dispose(self, address: str, *, record: DisposalRecord) -> None:
        record.check()
        path = self.path_of(address)
        if not path.is_file():
            raise BlobNotFound(f"no object {address}")
        entry: dict[str, object] = {
            "address": address,
            "register_number": record.register_number,
            "archival_code": record.archival_code,
            "approved_by": record.approved_by,
            "approved_at": record.approved_at.isoformat(),
            "reason": record.reason,
        }
        self._journal("disposals.jsonl", entry)
        path.unlink()
        if self._fsync:
            _fsync_dir(path.parent)


def remove_if_abandoned(path: Path, not_after: float) -> bool:
    """Unlink ``path`` when no live process holds its ``flock`` and it was last written before
    ``not_after``; a file another process writes (and locks) is left alone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        if os.fstat(fd).st_mtime >= not_after:
            return False
        with suppress(FileNotFoundError):
            path.unlink()
        return True
    finally:
        os.close(fd)


_SYNC_THREADS: Final = 8
T = TypeVar("T")


def _in_parallel(fn: Callable[[T], None], items: Sequence[T]) -> None:
    """``fn`` over ``items`` in a few threads (fsync releases the GIL and waits on the disk)."""
    if len(items) <= 1:
        for it in items:
            fn(it)
        return
    with ThreadPoolExecutor(max_workers=_SYNC_THREADS, thread_name_prefix="fsync") as pool:
        list(pool.map(fn, items))


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
