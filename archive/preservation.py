"""Long-term preservation (DA/T 70-2018 BC; earchive spec §4.3, §5.1; issue 6 item 4).

- ``check_package_fixity``: re-hash every stored file of one package against both payload and
  both tag manifests and the catalogued root (``archive.fixity.check_stored``), re-verify the
  archive's SM2 signature over ``tagmanifest-sm3.txt`` (and that it was made by the archive key
  the catalogue names), the timestamp token over the root (when a verifier is given), and the
  package's ``archive.ingest`` leaf: the leaf names this root, and its RFC 9162 inclusion proof
  leads to the root of the latest signed checkpoint that covers it (else the current head).
  Records a fixity run and an ``archive.fixity`` log event naming every changed, missing or
  extra file. Never repairs or deletes.

The periodic sweeps (fixity of every package, appraisal at the end of retention) are in
``archive.sweeps``; disposal (two approvals, tombstone) in ``archive.disposal``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.fixity import check_stored
from archive.ingest import SEAL_FILE, TIMESTAMP_FILE
from archive.model import ArchiveFixityRun, ArchivePackage
from archive.service_errors import PackageNotFound
from archive.service_records import PackageRecord, find_package_row, package_record, stored_bag
from archive.storage import BlobStore
from keys.interfaces import KeyStore
from seals.checks import check_sm2_signature
from seals.cms import parse_signed_data
from seals.ports import TimestampStatus, TimestampVerifier
from trust.ca.x509 import parse_certificate, sm2_spki
from trust.clock import Clock
from trust.crypto import constant_time_equal, sm3
from trust.errors import NotFound, TrustError
from trust.ids import new_id
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent
from trust.tlog.merkle import leaf_hash, root_from_inclusion_proof

__all__ = [
    "FixityOutcome",
    "check_package_fixity",
    "fixity_targets",
    "latest_fixity",
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
    row.last_fixity_at = now
    session.flush()
    return FixityOutcome(package_record(row), ok, report, run.id)


def fixity_targets(
    *, session: Session, checked_before: datetime | None = None, limit: int | None = None
) -> list[str]:
    """Ids of packages a sweep checks (all but disposed ones), least recently checked first
    (never checked first); with ``checked_before``, only those not checked since."""
    p = ArchivePackage
    query = select(p.id).where(p.status != "disposed")
    if checked_before is not None:
        query = query.where((p.last_fixity_at.is_(None)) | (p.last_fixity_at < checked_before))
    query = query.order_by(p.last_fixity_at.asc().nulls_first(), p.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


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
