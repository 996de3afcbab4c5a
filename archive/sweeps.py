"""The archive's periodic sweeps (earchive spec §4.3 "a fixity sweep (on demand and scheduled)",
§5.1 appraisal at the end of retention; issue 6 item 10), for the scheduler (``trust.jobs``),
``trustctl archive fixity|appraisal`` and bounded HTTP triggers.

Each package is handled in **its own transaction**: one package that cannot be checked, or a
failure half-way, never rolls back the others, and no lock outlives one package. Packages are
taken in batches from the catalogue, least recently checked first, and a sweep only takes
packages not checked since it started, so a bounded run (``limit``) resumes where the last one
stopped and every package gets its turn.

- ``sweep_fixity``: ``archive.preservation.check_package_fixity`` per package (re-hash, archive
  signature, timestamp, log inclusion; a fixity run and an ``archive.fixity`` leaf each);
- ``sweep_appraisal``: an active package whose retention ended goes to ``appraisal`` with an
  ``archive.appraisal_due`` leaf - a person decides; nothing is ever deleted automatically
  (GB/T 18894-2016).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import preservation
from archive.model import ArchivePackage
from archive.service_tools import archive_tools
from keys.interfaces import KeyStore
from trust.clock import Clock
from trust.config import Settings
from trust.errors import TrustError
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent

__all__ = ["DEFAULT_BATCH", "AppraisalSweep", "FixitySweep", "sweep_appraisal", "sweep_fixity"]

DEFAULT_BATCH: Final = 50
_NAMED: Final = 200


@dataclass(frozen=True, slots=True)
class FixitySweep:
    checked: int
    failed: int  # checked and found wanting (changed, missing, signature, timestamp, log)
    errors: int  # could not be checked at all (the error code is in ``problems``)
    failures: tuple[dict[str, Any], ...] = field(default=())  # the failing reports
    problems: tuple[dict[str, str], ...] = field(default=())  # {"package_id", "code"}
    more: bool = False  # stopped at ``limit`` with packages still due

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "failed": self.failed,
            "errors": self.errors,
            "packages": list(self.failures),
            "problems": list(self.problems),
            "more": self.more,
        }

    def line(self) -> str:
        return f"checked {self.checked}, failed {self.failed}, errors {self.errors}"


def sweep_fixity(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    keystore: KeyStore,
    settings: Settings,
    actor: str = "system:fixity",
    limit: int | None = None,
    batch: int = DEFAULT_BATCH,
    on_package: Callable[[str, bool], None] | None = None,
) -> FixitySweep:
    """Check the fixity of every package not checked since this sweep started, least recently
    checked first, one transaction per package (module docstring). ``on_package(id, ok)``
    hears each one (progress)."""
    started = clock.now()
    checked = failed = 0
    failures: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    remaining = limit
    more = False
    skip: set[str] = set()  # could not be checked: not checked again in this sweep
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        with session_factory() as s:
            due = preservation.fixity_targets(
                session=s, checked_before=started, limit=size + len(skip)
            )
        ids = [i for i in due if i not in skip][:size]
        if not ids:
            break
        for package_id in ids:
            ok = _check_one(session_factory, clock, keystore, settings, actor, package_id)
            if isinstance(ok, str):
                problems.append({"package_id": package_id, "code": ok})
                skip.add(package_id)
            else:
                checked += 1
                if ok["outcome"] != "pass":
                    failed += 1
                    if len(failures) < _NAMED:
                        failures.append(ok)
            if on_package is not None:
                on_package(package_id, not isinstance(ok, str) and ok["outcome"] == "pass")
        if remaining is not None:
            remaining -= len(ids)
    if limit is not None:
        with session_factory() as s:
            due = preservation.fixity_targets(
                session=s, checked_before=started, limit=1 + len(skip)
            )
        more = any(i not in skip for i in due)
    return FixitySweep(checked, failed, len(problems), tuple(failures), tuple(problems), more)


def _check_one(
    session_factory: sessionmaker[Session],
    clock: Clock,
    keystore: KeyStore,
    settings: Settings,
    actor: str,
    package_id: str,
) -> dict[str, Any] | str:
    """The report of one package, or the error code when it could not be checked."""
    try:
        with session_factory() as s, s.begin():
            tools = archive_tools(session=s, settings=settings)
            return preservation.check_package_fixity(
                session=s,
                clock=clock,
                keystore=keystore,
                store=tools.store,
                ref=package_id,
                actor=actor,
                timestamps=tools.timestamps,
            ).report
    except TrustError as exc:
        return exc.code
    except OSError as exc:  # an unreadable store: named, and the sweep goes on
        return f"archive.store_error:{exc.errno}"


@dataclass(frozen=True, slots=True)
class AppraisalSweep:
    flagged: tuple[str, ...]  # ids of the packages moved to appraisal
    more: bool = False

    def line(self) -> str:
        return f"flagged {len(self.flagged)}"


def _due(session: Session, day: date, size: int) -> list[str]:
    return list(
        session.scalars(
            select(ArchivePackage.id)
            .where(
                ArchivePackage.status == "active",
                ArchivePackage.retention_end.is_not(None),
                ArchivePackage.retention_end < day,
            )
            .order_by(ArchivePackage.retention_end, ArchivePackage.id)
            .limit(size)
        )
    )


def _flag_one(
    session_factory: sessionmaker[Session], clock: Clock, actor: str, package_id: str, day: date
) -> str | None:
    with session_factory() as s, s.begin():
        row = s.get(ArchivePackage, package_id, with_for_update=True)
        if row is None or row.status != "active" or row.retention_end is None:
            return None
        if row.retention_end >= day:
            return None
        row.status = "appraisal"
        tlog.append(
            session=s,
            clock=clock,
            event=LogEvent(
                kind="archive.appraisal_due",
                subject=row.archival_code,
                actor=actor,
                payload={"root_sm3": row.root_sm3, "retention_end": str(row.retention_end)},
            ),
        )
        s.flush()
        return row.id


def sweep_appraisal(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    actor: str = "system:appraisal",
    today: date | None = None,
    limit: int | None = None,
    batch: int = DEFAULT_BATCH,
) -> AppraisalSweep:
    """Active packages whose retention ended before ``today`` go to appraisal (鉴定), one
    transaction each (module docstring)."""
    day = today or clock.now().date()
    flagged: list[str] = []
    while limit is None or len(flagged) < limit:
        size = batch if limit is None else min(batch, limit - len(flagged))
        with session_factory() as s:
            ids = _due(s, day, size)
        if not ids:
            return AppraisalSweep(tuple(flagged), False)
        for package_id in ids:
            code = _flag_one(session_factory, clock, actor, package_id, day)
            if code is not None:
                flagged.append(code)
    with session_factory() as s:
        more = bool(_due(s, day, 1))
    return AppraisalSweep(tuple(flagged), more)
