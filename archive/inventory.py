"""Inventory sweep: the store against the catalogue (earchive spec §4.3 完整性 "inventory sweep:
bucket vs catalogue (orphans, missing objects)"; issue 6 item 3).

An ingest killed after it began publishing leaves objects that no package references (the
catalogue row never committed), a temporary file in ``.tmp/put-*`` and its ``staging/stg_*``
folder; a disposal that committed but died before removing its objects leaves objects too.
``sweep_inventory`` puts the store back to exactly what the catalogue references:

- an object referenced by no package file, root or tag file is removed when it was last
  written or reused more than ``grace`` ago (a live ingest publishes before it commits; the
  store's lock and renewal protocol, ``FilesystemBlobStore.discard_unreferenced``, keeps an
  object a concurrent ingest reuses);
- a temporary file of the store and a staging folder are removed when no live process holds
  their ``flock`` (a live ingest holds both) and they are older than ``grace``;
- a referenced object that is absent is reported (``missing``), never invented; the fixity
  sweep names the package.

Objects are compared shard by shard (the first two hex digits of the address), so memory stays
bounded by one shard whatever the size of the archive. When something was removed or found
missing, an ``archive.inventory`` leaf is appended to the transparency log. It never touches a
referenced object.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.model import ArchiveFile, ArchivePackage
from archive.service import STAGING_OWNER
from archive.service_tools import archive_store, staging_root, transfers_root
from archive.storage import FilesystemBlobStore, remove_if_abandoned
from trust.clock import Clock
from trust.config import Settings
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent

__all__ = ["DEFAULT_GRACE", "InventorySummary", "sweep_inventory"]

#: how old an unreferenced object or a stale file must be before it is removed
DEFAULT_GRACE: Final = timedelta(hours=6)
_NAMED: Final = 50


@dataclass(frozen=True, slots=True)
class InventorySummary:
    objects: int  # objects in the store before the sweep
    referenced: int  # distinct addresses the catalogue references
    removed: tuple[str, ...]  # unreferenced objects removed
    kept_young: int  # unreferenced objects younger than the grace period
    missing: tuple[str, ...]  # referenced, absent from the store
    bytes_freed: int
    temp_files_removed: int
    staging_removed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "referenced": self.referenced,
            "removed": len(self.removed),
            "removed_addresses": list(self.removed[:_NAMED]),
            "kept_young": self.kept_young,
            "missing": len(self.missing),
            "missing_addresses": list(self.missing[:_NAMED]),
            "bytes_freed": self.bytes_freed,
            "temp_files_removed": self.temp_files_removed,
            "staging_removed": self.staging_removed,
        }

    def line(self) -> str:
        return (
            f"objects {self.objects}, referenced {self.referenced}, removed {len(self.removed)} "
            f"({self.bytes_freed} bytes), young {self.kept_young}, missing {len(self.missing)}, "
            f"temp {self.temp_files_removed}, staging {self.staging_removed}"
        )


def _shard(lo: str) -> tuple[str, str]:
    """Address range ``[lo, hi)`` of one two-hex-digit shard."""
    nxt = int(lo, 16) + 1
    return lo, (f"{nxt:02x}" if nxt < 256 else "g")


def _referenced(session: Session, lo: str, hi: str) -> set[str]:
    """Every address in ``[lo, hi)`` a package uses: its files (payload and every tag file,
    signature and timestamp included) and, belt and braces, its root."""
    files = session.scalars(
        select(ArchiveFile.sm3).where(ArchiveFile.sm3 >= lo, ArchiveFile.sm3 < hi)
    )
    roots = session.scalars(
        select(ArchivePackage.root_sm3).where(
            ArchivePackage.status != "disposed",
            ArchivePackage.root_sm3 >= lo,
            ArchivePackage.root_sm3 < hi,
        )
    )
    return set(files) | set(roots)


def _remove_dead_folders(parent: Path, pattern: str, not_after: float) -> int:
    """Folders matching ``pattern`` whose owner file can be locked (owner dead) and is old."""
    removed = 0
    if not parent.is_dir():
        return 0
    for folder in sorted(parent.glob(pattern)):
        if not folder.is_dir():
            continue
        owner = folder / STAGING_OWNER
        if owner.exists():
            dead = remove_if_abandoned(owner, not_after)
        else:  # killed before the owner file existed: judged by age alone
            dead = folder.stat().st_mtime < not_after
        if dead:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _log(
    session_factory: sessionmaker[Session], clock: Clock, actor: str, summary: InventorySummary
) -> None:
    with session_factory() as s, s.begin():
        tlog.append(
            session=s,
            clock=clock,
            event=LogEvent(
                kind="archive.inventory",
                subject="archive-store",
                actor=actor,
                payload={"event": "inventory", **summary.to_dict()},
            ),
        )


def _sweep_shards(
    session_factory: sessionmaker[Session],
    store: FilesystemBlobStore,
    not_after: float,
    shards: Iterable[str],
) -> tuple[int, int, list[str], int, list[str], int]:
    objects = referenced_total = kept = freed = 0
    removed: list[str] = []
    missing: list[str] = []
    for lo in shards:
        lo, hi = _shard(lo)
        with session_factory() as s:
            wanted = _referenced(s, lo, hi)
        present = set(store.list(lo))
        objects += len(present)
        referenced_total += len(wanted)
        missing += sorted(wanted - present)
        for address in sorted(present - wanted):
            size = store.discard_unreferenced(address, not_after=not_after, reason="unreferenced")
            if size is None:
                kept += 1
            else:
                removed.append(address)
                freed += size
    return objects, referenced_total, removed, kept, missing, freed


def sweep_inventory(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    settings: Settings,
    grace: timedelta = DEFAULT_GRACE,
    actor: str = "system:inventory",
) -> InventorySummary:
    """Make the store hold exactly what the catalogue references (module docstring)."""
    store = archive_store(settings)
    not_after = (clock.now() - grace).timestamp()
    objects, referenced, removed, kept, missing, freed = _sweep_shards(
        session_factory, store, not_after, (f"{i:02x}" for i in range(256))
    )
    summary = InventorySummary(
        objects=objects,
        referenced=referenced,
        removed=tuple(removed),
        kept_young=kept,
        missing=tuple(missing),
        bytes_freed=freed,
        temp_files_removed=store.remove_stale_temp(not_after=not_after),
        staging_removed=_remove_dead_folders(staging_root(settings), "stg_*", not_after)
        + _remove_dead_folders(transfers_root(settings), ".tmp-*", not_after),
    )
    if summary.removed or summary.missing:
        _log(session_factory, clock, actor, summary)
    return summary
