"""A submitted case becomes a private staging folder (earchive spec §7.2; GB/T 42727-2023 §6.3
collection and arrangement): a folder holding ``case.json`` and ``files/``, a folder holding
``case.json`` beside its files, or a zip of either, is laid out as
``<staging>/submission/{case.json, files/}``, the layout ``archive.checks`` reads.

Every byte is read **once** here: each file is copied into the staging folder while SM3 and
SHA-256 are computed and the built-in EICAR search runs (``archive.storage.hash_stream``, the
copy in a helper thread), and the copy is made read-only. The digests and the EICAR results
travel with the folder (``Submission``): the checks do not read the bytes again and the
publication hard-links the staged files into the store without re-hashing them
(``archive.ingest.publish_bag``). The copy is what makes that safe: a file hard-linked from the
submitter's folder could be changed by the submitter after the checks. The staged files are
flushed to disk in the background while the ingest goes on (``Submission.durable``), so that
publishing does not wait for a gigabyte to reach the disk.

Zip members are extracted with every path checked (no absolute paths, no ``..``, no links, no
encrypted members, bounded count and total size): nothing escapes the staging folder.
"""

from __future__ import annotations

import os
import stat
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, Final, TypeVar

from archive.checks_files import FileFacts, examine
from archive.errors import CaseMetadataInvalid, UnsafePath
from archive.scan import EicarStream
from archive.storage import Digests, fsync_file, hash_stream
from trust.errors import InvalidInput

__all__ = [
    "MAX_SUBMISSION_BYTES",
    "IngestProgress",
    "Progress",
    "Submission",
    "normalise_submission",
]

#: largest submission (a folder, or a zip uncompressed) accepted as one case
MAX_SUBMISSION_BYTES: Final = 64 * 1024 * 1024 * 1024
_MAX_MEMBERS: Final = 100_000
_READ_ONLY: Final = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
#: a large staged file is flushed to disk in steps of this many bytes while it is copied
_SYNC_STEP: Final = 128 * 1024 * 1024
#: files copied (and hashed) at once while staging
_COPY_LANES: Final = 2


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """One progress event of an ingest: a ``stage`` name and, for the stages that move bytes
    (``normalising``, ``publishing``), the bytes done so far out of ``total``."""

    stage: str
    done: int = 0
    total: int = 0


Progress = Callable[[IngestProgress], None]


class _Syncer:
    """fsyncs staged files in two background threads while the ingest goes on."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stage-sync")
        self._pending: list[Future[None]] = []
        self._inodes: set[int] = set()

    def file(self, path: Path) -> None:
        self._inodes.add(os.stat(path).st_ino)
        self._pending.append(self._pool.submit(fsync_file, path))

    def descriptor(self, fd: int) -> None:
        """fdatasync a duplicate of ``fd`` (closed afterwards): part of a file being written."""
        dup = os.dup(fd)

        def run() -> None:
            try:
                os.fdatasync(dup)
            finally:
                os.close(dup)

        self._pending.append(self._pool.submit(run))

    def wait(self) -> frozenset[int]:
        for future in self._pending:
            future.result()
        self._pending.clear()
        return frozenset(self._inodes)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _SyncingSink:
    """A staged file being written: every ``_SYNC_STEP`` bytes, its data so far is flushed in
    the background, so that the disk keeps up with the copy."""

    def __init__(self, out: BinaryIO, syncer: _Syncer) -> None:
        self._out, self._syncer = out, syncer
        self._written, self._next = 0, _SYNC_STEP

    def write(self, data: bytes, /) -> int:
        n = self._out.write(data)
        self._written += n
        if self._written >= self._next:
            self._out.flush()
            self._syncer.descriptor(self._out.fileno())
            self._next += _SYNC_STEP
        return n


@dataclass(frozen=True, slots=True)
class Submission:
    """The staged submission: ``folder`` holds ``case.json`` and ``files/``; ``digests`` are
    those of ``files/<name>`` as written (read-only private copies), ``eicar`` the built-in
    EICAR search per file (``archive.scan.EicarStream``)."""

    folder: Path
    digests: dict[str, Digests] = field(default_factory=dict)
    eicar: dict[str, bool] = field(default_factory=dict)
    facts: dict[str, FileFacts] = field(default_factory=dict)
    _syncer: _Syncer | None = field(default=None, repr=False)

    @property
    def total_bytes(self) -> int:
        return sum(d.size for d in self.digests.values())

    def durable(self) -> frozenset[int]:
        """Wait for the background flushes; the inode numbers of the staged files on disk."""
        if self._syncer is None:
            return frozenset()
        return self._syncer.wait()

    def close(self) -> None:
        if self._syncer is not None:
            self._syncer.close()


@dataclass
class _Staged:
    digests: dict[str, Digests] = field(default_factory=dict)
    eicar: dict[str, bool] = field(default_factory=dict)
    facts: dict[str, FileFacts] = field(default_factory=dict)


class _Meter:
    """Bytes staged so far, heard from the copying lanes (hence the lock)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress, self._total, self._done = progress, total, 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self._done += n
            if self._progress is not None:
                self._progress(IngestProgress("normalising", self._done, self._total))


def _copy(src: IO[bytes], dest: Path, meter: _Meter, syncer: _Syncer) -> tuple[Digests, bool]:
    """Copy, hash and EICAR-search in one pass; the copy is read-only and queued for fsync."""
    eicar = EicarStream()
    with open(dest, "xb") as out:
        digests = hash_stream(src, sink=_SyncingSink(out, syncer), on_chunk=meter, tap=eicar.feed)
    os.chmod(dest, _READ_ONLY)
    syncer.file(dest)
    return digests, eicar.hit


def _regular(entry: Path, shown: str) -> Path:
    if entry.is_symlink() or not entry.is_file():
        raise UnsafePath(f"{shown} is not a regular file")
    return entry


def _members(src: Path) -> Iterator[tuple[str, Path]]:
    """``(name in files/, source path)``: ``files/*`` when there is a ``files`` folder, else
    every file beside ``case.json``."""
    if (src / "files").is_dir():
        for entry in sorted((src / "files").iterdir()):
            yield entry.name, _regular(entry, f"files/{entry.name}")
        return
    for entry in sorted(src.iterdir()):
        if entry.name != "case.json":
            yield entry.name, _regular(entry, entry.name)


def _arrange(
    src: Path,
    dest: Path,
    known: _Staged | None,
    progress: Progress | None,
    syncer: _Syncer,
) -> _Staged:
    """``dest/{case.json, files/}`` from ``src``: copied and hashed (a folder of the
    submitter), or hard-linked with what is ``known`` (our own extracted zip, by name)."""
    (dest / "files").mkdir(parents=True)
    members = list(_members(src))
    total = sum(path.stat().st_size for _, path in members)
    if total > MAX_SUBMISSION_BYTES:
        raise InvalidInput("the submission is too large", code="archive.submission_too_large")
    meter = _Meter(progress, total)
    if not (src / "case.json").exists():
        raise CaseMetadataInvalid("case.json is missing", code="archive.case_missing")
    with open(_regular(src / "case.json", "case.json"), "rb") as fh:
        _copy(fh, dest / "case.json", _Meter(None, 0), syncer)
    staged = _Staged()
    copies: list[tuple[str, Path]] = []
    for name, path in members:
        key = str(path)
        if known is not None and key in known.digests:
            os.link(path, dest / "files" / name)  # private extracted copy: no second copy
            staged.digests[name], staged.eicar[name] = known.digests[key], known.eicar[key]
            staged.facts[name] = known.facts[key]
            meter(known.digests[key].size)
        else:
            copies.append((name, path))

    def copy(job: tuple[str, Path]) -> _Copied:
        name, path = job
        with open(path, "rb") as fh:
            return _stage(fh, dest / "files" / name, meter, syncer)

    results = _in_lanes(copy, [((name, path), path.stat().st_size) for name, path in copies])
    for (name, _), (digests, eicar, facts) in zip(copies, results, strict=True):
        staged.digests[name], staged.eicar[name], staged.facts[name] = digests, eicar, facts
    return staged


_Copied = tuple[Digests, bool, FileFacts]
J = TypeVar("J")


def _stage(src: IO[bytes], dest: Path, meter: _Meter, syncer: _Syncer) -> _Copied:
    """``_copy`` one submitted file, then probe the copy for the usability checks."""
    digests, eicar = _copy(src, dest, meter, syncer)
    return digests, eicar, examine(dest, dest.name, digests=digests)


def _in_lanes(copy: Callable[[J], _Copied], jobs: list[tuple[J, int]]) -> list[_Copied]:
    """``copy`` every job (given with its size) in ``_COPY_LANES`` threads, the largest first;
    the results in the order of ``jobs``.

    SM3 over one file is sequential and is the ingest's longest step (cryptography's SM3
    releases the GIL), so the largest file is hashed in one lane while the others are copied,
    hashed and probed for the usability checks (``archive.checks_files.examine``, from the
    private copy) in the second: on two cores they cost little beside a large one."""
    if len(jobs) < 2:
        return [copy(job) for job, _ in jobs]
    largest_first = sorted(range(len(jobs)), key=lambda i: -jobs[i][1])
    with ThreadPoolExecutor(max_workers=_COPY_LANES, thread_name_prefix="stage-copy") as pool:
        futures = {i: pool.submit(copy, jobs[i][0]) for i in largest_first}
        try:
            return [futures[i].result() for i in range(len(jobs))]
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise


def _member_path(info: zipfile.ZipInfo) -> str:
    name = info.filename
    mode = (info.external_attr >> 16) & 0o170000
    if mode and mode not in (stat.S_IFREG, stat.S_IFDIR):
        raise UnsafePath(f"zip member {name!r} is not a regular file")
    if name.startswith("/") or "\\" in name or any(p in ("..", ".") for p in name.split("/")):
        raise UnsafePath(f"zip member {name!r} could escape the submission folder")
    if info.flag_bits & 0x1:
        raise InvalidInput("encrypted zip members are not accepted", code="archive.zip_encrypted")
    return name


def _from_zip(src: Path, dest: Path, progress: Progress | None, syncer: _Syncer) -> _Staged:
    try:
        archive = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"not a readable zip: {exc}", code="archive.bad_zip") from None
    raw = dest.parent / (dest.name + ".unzipped")
    known = _Staged()
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > _MAX_MEMBERS:
            raise InvalidInput("too many zip members", code="archive.bad_zip")
        total = sum(i.file_size for i in infos)
        if total > MAX_SUBMISSION_BYTES:
            raise InvalidInput("the zip is too large when extracted", code="archive.bad_zip")
        names = [_member_path(i) for i in infos]
        # a single top folder wrapping everything is allowed (zip of a folder)
        tops = {n.split("/", 1)[0] for n in names}
        strip = ""
        if len(tops) == 1 and all("/" in n for n in names):
            strip = next(iter(tops)) + "/"
        raw.mkdir()
        meter = _Meter(progress, total)
        targets = [raw / name.removeprefix(strip) for name in names]
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)

        refcount = threading.Lock()

        def extract(job: tuple[zipfile.ZipInfo, Path]) -> _Copied:
            """One member; zipfile serialises the reads of members open at once, but its
            count of open members is not thread-safe: opening and closing are locked here."""
            info, target = job
            with refcount:
                fh = archive.open(info)
            try:
                return _stage(fh, target, meter, syncer)
            finally:
                with refcount:
                    fh.close()

        jobs = [((i, t), i.file_size) for i, t in zip(infos, targets, strict=True)]
        for target, (digests, eicar, facts) in zip(targets, _in_lanes(extract, jobs), strict=True):
            key = str(target)
            known.digests[key], known.eicar[key], known.facts[key] = digests, eicar, facts
    return _arrange(raw, dest, known, None, syncer)


def normalise_submission(
    source: Path, staging: Path, *, progress: Progress | None = None
) -> Submission:
    """The submission as ``<staging>/submission/{case.json, files/}`` with the digests and the
    EICAR search of every file (module docstring); ``close()`` it when done."""
    source = Path(source)
    Path(staging).mkdir(parents=True, exist_ok=True)
    dest = Path(staging) / "submission"
    syncer = _Syncer()
    try:
        if source.is_dir():
            if not (source / "case.json").is_file():
                raise CaseMetadataInvalid("case.json is missing", code="archive.case_missing")
            staged = _arrange(source, dest, None, progress, syncer)
        elif source.is_file() and zipfile.is_zipfile(source):
            staged = _from_zip(source, dest, progress, syncer)
        else:
            raise InvalidInput(
                "a submission is a folder with case.json or a zip of one",
                code="archive.bad_submission",
            )
    except BaseException:
        syncer.close()
        raise
    return Submission(dest, staged.digests, staged.eicar, staged.facts, syncer)
