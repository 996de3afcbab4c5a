"""Long-term preservation (DA/T 70-2018 BC; earchive spec §4.3, §5.1; issue 6 item 4).

- ``check_package_fixity``: re-hash every stored file of one package against both payload and
  both tag manifests and the catalogued root (``archive.fixity.check_stored``), re-verify the
  archive's SM2 signature over ``tagmanifest-sm3.txt`` (and that it was made by the archive key
  the catalogue names), the timestamp token over the root (when a verifier is given), and the
  package's ``archive.ingest`` leaf: the leaf names this root, and its RFC 9162 inclusion proof
  leads to the root of the latest signed checkpoint that covers it (else the current head).
  Records a fixity run and an ``archive.fixity`` log event naming every changed, missing or
  extra file. Never repairs or deletes.
- ``flag_for_appraisal``: packages whose retention period has ended go to ``appraisal``: a
  person decides. Nothing is ever deleted automatically (GB/T 18894-2016).
- ``propose_disposal`` / ``approve_disposal`` / ``execute_disposal``: destruction (销毁) of an
  appraised package needs two approvals by two distinct people other than the proposer;
  execution removes the package's objects that no other package uses and leaves a tombstone
  leaf in the log (hashes, register number, approvers; no content).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive.fixity import check_stored
from archive.ingest import SEAL_FILE, TIMESTAMP_FILE
from archive.model import ArchiveDisposal, ArchiveFile, ArchiveFixityRun, ArchivePackage
from archive.service_errors import DisposalNotAllowed, PackageNotFound
from archive.service_records import PackageRecord, find_package_row, package_record, stored_bag
from archive.storage import BlobStore, DisposableBlobStore, DisposalRecord
from keys.interfaces import KeyStore
from seals.checks import check_sm2_signature
from seals.cms import parse_signed_data
from seals.ports import TimestampStatus, TimestampVerifier
from trust.ca.x509 import parse_certificate, sm2_spki
from trust.clock import Clock
from trust.crypto import constant_time_equal, sm3
from trust.errors import Conflict, NotFound, TrustError
from trust.ids import new_id
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent
from trust.tlog.merkle import leaf_hash, root_from_inclusion_proof

__all__ = [
    "DisposalState",
    "FixityOutcome",
    "approve_disposal",
    "check_package_fixity",
    "execute_disposal",
    "fixity_targets",
    "flag_for_appraisal",
    "latest_fixity",
    "propose_disposal",
]


@dataclass(frozen=True, slots=True)
class FixityOutcome:
    package: PackageRecord
    ok: bool
    report: dict[str, Any]
    run_id: str


def _read(store: BlobStore, address: str, limit: int = 64 * 1024 * 1024) -> bytes | None:
    try:
        with store.get_stream(address) as fh:
            return fh.read(limit)
    except TrustError:
        return None


def _signature_check(
    session: Session, keystore: KeyStore, row: ArchivePackage, p7s: bytes | None, tm: bytes | None
) -> dict[str, Any]:
    if p7s is None or tm is None:
        return {"ok": False, "reason": "signature.unreadable"}
    try:
        sd = parse_signed_data(p7s)
    except TrustError as exc:
        return {"ok": False, "reason": "signature.malformed", "detail": exc.code}
    if sd.signer_cert is None or sd.covered_digest is None:
        return {"ok": False, "reason": "signature.incomplete"}
    if not constant_time_equal(sd.covered_digest, sm3(tm)):
        return {"ok": False, "reason": "signature.digest_mismatch"}
    check, _enc = check_sm2_signature(
        sd.signer_cert, sd.signed_message, sd.signature, sd.signature_algorithm
    )
    if not check.ok:
        return {"ok": False, "reason": f"signature.{check.reason}"}
    try:
        info = keystore.get(session=session, key_id=row.signer_key_id)
        same = constant_time_equal(
            sm2_spki(parse_certificate(sd.signer_cert).spki_der), sm2_spki(info.public_key_der)
        )
    except (TrustError, ValueError):
        same = False
    if not same:
        return {"ok": False, "reason": "signature.not_archive_key"}
    return {"ok": True, "reason": "signature.valid", "key_id": row.signer_key_id}


def _timestamp_check(
    verifier: TimestampVerifier | None, token: bytes | None, tm: bytes | None
) -> dict[str, Any]:
    if token is None or tm is None:
        return {"ok": False, "reason": "timestamp.unreadable"}
    if verifier is None:
        return {"ok": True, "reason": "timestamp.not_checked"}
    outcome = verifier.verify(token, covered=tm)
    return {
        "ok": outcome.status is not TimestampStatus.INVALID,
        "status": outcome.status.value,
        "reason": outcome.reason,
        "gen_time": outcome.time.isoformat() if outcome.time else None,
    }


def _log_check(session: Session, row: ArchivePackage) -> dict[str, Any]:
    try:
        entry = tlog.get_entry(session=session, index=row.log_index)
    except NotFound:
        return {"ok": False, "reason": "log.entry_missing", "index": row.log_index}
    payload = json.loads(entry.data).get("payload", {})
    if entry.kind != "archive.ingest" or payload.get("root_sm3") != row.root_sm3:
        return {"ok": False, "reason": "log.entry_mismatch", "index": row.log_index}
    if not constant_time_equal(leaf_hash(entry.data), entry.leaf_hash):
        return {"ok": False, "reason": "log.leaf_hash_mismatch", "index": row.log_index}
    checkpoint = tlog.latest_checkpoint(session=session)
    if checkpoint is not None and checkpoint.checkpoint.tree_size > row.log_index:
        size, expected, against = (
            checkpoint.checkpoint.tree_size,
            checkpoint.checkpoint.root_hash,
            "checkpoint",
        )
    else:
        size, expected = tlog.log_head(session=session)
        against = "head"
    proof = tlog.inclusion_proof(session=session, index=row.log_index, tree_size=size)
    try:
        root = root_from_inclusion_proof(row.log_index, size, entry.leaf_hash, proof.path)
    except TrustError as exc:
        return {"ok": False, "reason": f"log.{exc.code}", "index": row.log_index}
    ok = constant_time_equal(root, expected)
    return {
        "ok": ok,
        "reason": "log.included" if ok else "log.root_mismatch",
        "index": row.log_index,
        "tree_size": size,
        "against": against,
    }


def check_package_fixity(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    store: BlobStore,
    ref: str,
    actor: str,
    timestamps: TimestampVerifier | None = None,
) -> FixityOutcome:
    """One package's fixity check, recorded (run row + log event) in the caller's transaction."""
    row = find_package_row(session, ref)
    if row.status == "disposed":
        raise PackageNotFound(f"档案 {row.archival_code} 已销毁")
    now = clock.now()
    bag = stored_bag(row)
    fixity = check_stored(store, bag, checked_at=now)
    addresses = dict(bag.uncovered)
    tm = _read(store, row.root_sm3)
    p7s = _read(store, addresses[SEAL_FILE]) if SEAL_FILE in addresses else None
    token = _read(store, addresses[TIMESTAMP_FILE]) if TIMESTAMP_FILE in addresses else None
    report = fixity.to_dict()
    report["archival_code"] = row.archival_code
    report["signature"] = _signature_check(session, keystore, row, p7s, tm)
    report["timestamp"] = _timestamp_check(timestamps, token, tm)
    report["log"] = _log_check(session, row)
    ok = fixity.ok and all(report[k]["ok"] for k in ("signature", "timestamp", "log"))
    report["outcome"] = "pass" if ok else "fail"
    appended = tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind="archive.fixity",
            subject=row.archival_code,
            actor=actor,
            payload={
                "event": "fixity",
                "root_sm3": row.root_sm3,
                "result": report["outcome"],
                "changed": list(fixity.changed)[:50],
                "missing": list(fixity.missing)[:50],
                "extra": list(fixity.extra)[:50],
                "signature": report["signature"]["reason"],
                "log": report["log"]["reason"],
            },
        ),
    )
    run = ArchiveFixityRun(
        id=new_id("fix"),
        package_id=row.id,
        checked_at=now,
        ok=ok,
        report=json.dumps(report, ensure_ascii=False, sort_keys=True),
        actor=actor,
        log_index=appended.index,
    )
    session.add(run)
    session.flush()
    return FixityOutcome(package_record(row), ok, report, run.id)


def fixity_targets(*, session: Session) -> list[str]:
    """Ids of every package a sweep checks (all but disposed ones), oldest first."""
    return list(
        session.scalars(
            select(ArchivePackage.id)
            .where(ArchivePackage.status != "disposed")
            .order_by(ArchivePackage.ingested_at, ArchivePackage.id)
        )
    )


def latest_fixity(*, session: Session, package_id: str) -> dict[str, Any] | None:
    run = session.scalars(
        select(ArchiveFixityRun)
        .where(ArchiveFixityRun.package_id == package_id)
        .order_by(ArchiveFixityRun.checked_at.desc(), ArchiveFixityRun.id.desc())
    ).first()
    if run is None:
        return None
    loaded: dict[str, Any] = json.loads(run.report)
    loaded["run_id"] = run.id
    loaded["actor"] = run.actor
    return loaded


# --------------------------------------------------------------------------- retention


def flag_for_appraisal(
    *, session: Session, clock: Clock, actor: str, today: date | None = None
) -> list[PackageRecord]:
    """Active packages whose retention ended before ``today`` go to appraisal (鉴定)."""
    day = today or clock.now().date()
    rows = session.scalars(
        select(ArchivePackage).where(
            ArchivePackage.status == "active",
            ArchivePackage.retention_end.is_not(None),
            ArchivePackage.retention_end < day,
        )
    ).all()
    for row in rows:
        row.status = "appraisal"
        tlog.append(
            session=session,
            clock=clock,
            event=LogEvent(
                kind="archive.appraisal_due",
                subject=row.archival_code,
                actor=actor,
                payload={"root_sm3": row.root_sm3, "retention_end": str(row.retention_end)},
            ),
        )
    session.flush()
    return [package_record(r) for r in rows]


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


def execute_disposal(
    *, session: Session, clock: Clock, store: DisposableBlobStore, disposal_id: str, actor: str
) -> DisposalState:
    """Remove the package's objects (those no other package uses) and leave a tombstone."""
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
    for address in addresses:
        if address not in keep and store.exists(address):
            store.dispose(address, record=record)
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
    return _state(d, row.archival_code)
