"""Fixity checks of stored packages (DA/T 70-2018 长期保存 BC 真实性/完整性; earchive spec §4.3).

``check_stored(store, bag)`` re-reads every object of a package from its ``BlobStore`` - streaming,
one pass computing SM3 and SHA-256 - against both payload and both tag manifests, and against the
package root recorded at ingest; ``check_fixity(source)`` does the same for any ``BagSource`` (an
exported or staged bag directory). The report names each file ``ok``/``changed``/``missing``/
``extra`` and gives the bytes read and the throughput (MB/s, 10^6 bytes), as a PREMIS
``fixity check`` event records it. A fixity check never repairs or deletes anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.bag import (
    BagProblem,
    BagSource,
    BagValidation,
    FileState,
    FileStatus,
    StoredBag,
    StoredBagSource,
    validate_bag,
)
from archive.errors import BagMalformed, BlobNotFound, UnsafePath
from archive.storage import BlobStore

__all__ = ["FixityReport", "check_fixity", "check_stored"]


@dataclass(frozen=True, slots=True)
class FixityReport:
    root_sm3: str  # the root the package is expected to have
    checked_at: datetime
    files: tuple[FileStatus, ...]
    problems: tuple[BagProblem, ...]
    total_bytes: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.state is FileState.OK for f in self.files)

    @property
    def mb_per_second(self) -> float:
        return self.total_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def _named(self, state: FileState) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.state is state)

    @property
    def changed(self) -> tuple[str, ...]:
        return self._named(FileState.CHANGED)

    @property
    def missing(self) -> tuple[str, ...]:
        return self._named(FileState.MISSING)

    @property
    def extra(self) -> tuple[str, ...]:
        return self._named(FileState.EXTRA)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "fixity check",
            "root_sm3": self.root_sm3,
            "checked_at": self.checked_at.isoformat(),
            "outcome": "pass" if self.ok else "fail",
            "total_bytes": self.total_bytes,
            "seconds": round(self.seconds, 3),
            "mb_per_second": round(self.mb_per_second, 1),
            "problems": [p.to_dict() for p in self.problems],
            "files": [f.to_dict() for f in self.files if f.state is not FileState.OK],
            "files_ok": sum(1 for f in self.files if f.state is FileState.OK),
        }


def _report(
    expected_root: str, checked_at: datetime, result: BagValidation, seconds: float
) -> FixityReport:
    return FixityReport(
        root_sm3=expected_root,
        checked_at=checked_at,
        files=result.files,
        problems=result.problems,
        total_bytes=result.bytes_read,
        seconds=seconds,
    )


def check_fixity(
    source: BagSource,
    *,
    expected_root: str,
    checked_at: datetime,
    timer: Callable[[], float] = time.perf_counter,
) -> FixityReport:
    """Re-hash every file of ``source`` against its manifests and ``expected_root``."""
    started = timer()
    result = validate_bag(source, expected_root=expected_root)
    return _report(expected_root, checked_at, result, timer() - started)


def check_stored(
    store: BlobStore,
    bag: StoredBag,
    *,
    checked_at: datetime,
    timer: Callable[[], float] = time.perf_counter,
) -> FixityReport:
    """Fixity of a package in ``store``. A root object that is gone or unreadable is reported
    (``fixity.root_unreadable``), not raised."""
    started = timer()
    try:
        source = StoredBagSource(store, bag)
    except (BlobNotFound, BagMalformed, UnsafePath) as exc:
        return FixityReport(
            root_sm3=bag.root_sm3,
            checked_at=checked_at,
            files=(FileStatus("tagmanifest-sm3.txt", FileState.MISSING),),
            problems=(BagProblem("fixity.root_unreadable", exc.detail),),
            total_bytes=0,
            seconds=timer() - started,
        )
    result = validate_bag(source, expected_root=bag.root_sm3)
    problems = list(result.problems)
    if result.root_sha256 != bag.root_sha256:
        problems.append(BagProblem("bag.root_sha256_mismatch", f"expected {bag.root_sha256}"))
    report = _report(bag.root_sm3, checked_at, result, timer() - started)
    return FixityReport(
        report.root_sm3,
        report.checked_at,
        report.files,
        tuple(problems),
        report.total_bytes,
        report.seconds,
    )
