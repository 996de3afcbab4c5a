"""Disposal (销毁) of appraised packages (GB/T 18894-2016 disposition; earchive spec §5.1
"never delete automatically"; issue 6 items 4 and 6).

- ``propose_disposal``: only a package in ``appraisal`` (its retention ended, a person
  decided) with a destruction-register number and a reason;
- ``approve_disposal``: two approvals by two distinct people, neither the proposer;
- ``record_disposal``: in the caller's transaction, the tombstone leaf (hashes, register
  number, approvers; no content), the package's file rows removed, personal data blanked, the
  package ``disposed``. It touches no object: a failure before the commit keeps every file;
- ``remove_disposed_objects``: **after** the commit, the objects of the disposed package that
  no other package uses are removed from the store, each with its destruction record; what a
  crash leaves behind is unreferenced and goes with the next inventory sweep
  (``archive.inventory``);
- ``execute_disposal``: both, in that order, for callers holding a session factory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from archive.model import ArchiveDisposal, ArchiveFile, ArchivePackage
from archive.service_errors import DisposalNotAllowed, PackageNotFound
from archive.service_records import find_package_row
from archive.storage import DisposableBlobStore, DisposalRecord
from trust.clock import Clock
from trust.errors import Conflict, NotFound
from trust.ids import new_id
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent

__all__ = [
    "DisposalExecuted",
    "DisposalState",
    "approve_disposal",
    "execute_disposal",
    "propose_disposal",
    "record_disposal",
    "remove_disposed_objects",
]


@dataclass(frozen=True, slots=True)
class DisposalState:
    id: str
    archival_code: str
    register_number: str
    state: str
    proposed_by: str
    approvals: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "archival_code": self.archival_code,
            "register_number": self.register_number,
            "state": self.state,
            "proposed_by": self.proposed_by,
            "approvals": list(self.approvals),
            "reason": self.reason,
        }


def _state(d: ArchiveDisposal, code: str) -> DisposalState:
    approvals = tuple(a["by"] for a in json.loads(d.approvals))
    return DisposalState(d.id, code, d.register_number, d.state, d.proposed_by, approvals, d.reason)


def propose_disposal(
    *, session: Session, clock: Clock, ref: str, register_number: str, reason: str, actor: str
) -> DisposalState:
    row = find_package_row(session, ref)
    if row.status != "appraisal":
        raise DisposalNotAllowed("只有保管期满并进入鉴定的档案才能提出销毁")
    if not register_number.strip() or not reason.strip():
        raise DisposalNotAllowed("销毁需要销毁清册编号和理由")
    d = ArchiveDisposal(
        id=new_id("dsp"),
        package_id=row.id,
        register_number=register_number.strip(),
        reason=reason.strip(),
        state="proposed",
        proposed_by=actor,
        proposed_at=clock.now(),
        approvals="[]",
    )
    session.add(d)
    tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind="archive.disposal_proposed",
            subject=row.archival_code,
            actor=actor,
            payload={"register_number": d.register_number, "root_sm3": row.root_sm3},
        ),
    )
    session.flush()
    return _state(d, row.archival_code)


def _disposal(session: Session, disposal_id: str) -> tuple[ArchiveDisposal, ArchivePackage]:
    d = session.get(ArchiveDisposal, disposal_id, with_for_update=True)
    if d is None:
        raise NotFound(f"没有销毁申请 {disposal_id}", code="archive.disposal_not_found")
    row = session.get(ArchivePackage, d.package_id)
    if row is None:  # pragma: no cover - foreign key
        raise PackageNotFound(d.package_id)
    return d, row


def approve_disposal(
    *, session: Session, clock: Clock, disposal_id: str, actor: str
) -> DisposalState:
    """One approval; the second by a different person (neither the proposer) approves it."""
    d, row = _disposal(session, disposal_id)
    if d.state != "proposed":
        raise Conflict(f"销毁申请状态为 {d.state}", code="archive.disposal_state")
    approvals: list[dict[str, str]] = json.loads(d.approvals)
    if actor == d.proposed_by or any(a["by"] == actor for a in approvals):
        raise DisposalNotAllowed("销毁须由提出人以外的两名不同人员批准")
    approvals.append({"by": actor, "at": clock.now().isoformat()})
    d.approvals = json.dumps(approvals, ensure_ascii=False)
    if len(approvals) >= 2:
        d.state = "approved"
    tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind="archive.disposal_approved",
            subject=row.archival_code,
            actor=actor,
            payload={"register_number": d.register_number, "approvals": len(approvals)},
        ),
    )
    session.flush()
    return _state(d, row.archival_code)


def _still_used(session: Session, package_id: str, addresses: Sequence[str]) -> set[str]:
    used: set[str] = set()
    for address in addresses:
        other = session.scalars(
            select(ArchiveFile.package_id)
            .join(ArchivePackage, ArchivePackage.id == ArchiveFile.package_id)
            .where(
                ArchiveFile.sm3 == address,
                ArchiveFile.package_id != package_id,
                ArchivePackage.status != "disposed",
            )
        ).first()
        if other is not None:
            used.add(address)
    return used


@dataclass(frozen=True, slots=True)
class DisposalExecuted:
    """A disposal recorded in the catalogue: the objects to remove once it is committed."""

    state: DisposalState
    addresses: tuple[str, ...]  # objects of the package no other package uses
    record: DisposalRecord


def record_disposal(
    *, session: Session, clock: Clock, disposal_id: str, actor: str
) -> DisposalExecuted:
    """The catalogue side of an approved disposal, in the caller's transaction (module
    docstring); no object is removed here."""
    d, row = _disposal(session, disposal_id)
    if d.state != "approved":
        raise DisposalNotAllowed("销毁须先获得两名不同人员的批准")
    approvals = [a["by"] for a in json.loads(d.approvals)]
    now = clock.now()
    addresses = sorted(
        set(session.scalars(select(ArchiveFile.sm3).where(ArchiveFile.package_id == row.id)))
    )
    keep = _still_used(session, row.id, addresses)
    record = DisposalRecord(
        d.register_number, row.archival_code, ",".join(approvals), now, d.reason
    )
    appended = tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind="archive.disposal",
            subject=row.archival_code,
            actor=actor,
            payload={
                "event": "disposal",
                "archival_code": row.archival_code,
                "case_number": row.case_number,
                "version": row.version,
                "root_sm3": row.root_sm3,
                "root_sha256": row.root_sha256,
                "register_number": d.register_number,
                "approved_by": approvals,
                "result": "destroyed",
            },
        ),
    )
    session.execute(delete(ArchiveFile).where(ArchiveFile.package_id == row.id))
    row.status = "disposed"
    row.applicant_name = "（已销毁）"
    row.applicant_id_masked = ""
    row.metadata_text = ""
    d.state = "executed"
    d.executed_at = now
    d.log_index = appended.index
    session.flush()
    remove = tuple(a for a in addresses if a not in keep)
    return DisposalExecuted(_state(d, row.archival_code), remove, record)


def remove_disposed_objects(*, store: DisposableBlobStore, executed: DisposalExecuted) -> int:
    """After the commit: remove the disposed package's objects; returns how many."""
    removed = 0
    for address in executed.addresses:
        if store.exists(address):
            store.dispose(address, record=executed.record)
            removed += 1
    return removed


def execute_disposal(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    store: DisposableBlobStore,
    disposal_id: str,
    actor: str,
) -> DisposalState:
    """Record the disposal (one transaction), then remove its objects (module docstring)."""
    with session_factory() as session, session.begin():
        executed = record_disposal(
            session=session, clock=clock, disposal_id=disposal_id, actor=actor
        )
    remove_disposed_objects(store=store, executed=executed)
    return executed.state
