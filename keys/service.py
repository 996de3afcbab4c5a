"""Key lifecycle on the database, shared by every keystore implementation.

A keystore (software now, hardware later) makes and holds the private material; this module
records keys, moves them through the lifecycle of ``keys.rotation`` and appends one
transparency-log event per change in the caller's transaction:

``key.generated``, ``key.activated``, ``key.retired``, ``key.destroyed`` - subject the key id,
payload key id, algorithm, usage, owner, status, label and the SM3 of the public key (hex);
``key.destroyed`` adds the reason. Never private bytes.

It also keeps the keystore fingerprint in ``keystore_meta`` (``match_fingerprint``), which lets a
keystore refuse a database whose keys it did not wrap before it writes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keys import rotation
from keys.interfaces import KeyInfo, KeyStatus, KeyUsage
from keys.model import KeyRecord, KeystoreMeta
from trust.clock import Clock
from trust.crypto import constant_time_equal, sm3_hex
from trust.errors import Conflict, InvalidInput, Misconfigured, NotFound
from trust.signing import SignatureAlgorithm
from trust.tlog import LogEvent, append

__all__ = [
    "FINGERPRINT",
    "activate_record",
    "active_record",
    "check_text",
    "destroy",
    "get_record",
    "insert_key",
    "list_infos",
    "match_fingerprint",
    "pending_record",
    "retire",
    "to_info",
]

log = logging.getLogger(__name__)

#: ``keystore_meta`` row holding the master-key check value.
FINGERPRINT: Final = "master_key_check"


def to_info(record: KeyRecord) -> KeyInfo:
    """Public metadata of a record (no wrapped blob)."""
    return KeyInfo(
        key_id=record.key_id,
        algorithm=SignatureAlgorithm(record.algorithm),
        usage=KeyUsage(record.usage),
        status=KeyStatus(record.status),
        owner=record.owner,
        label=record.label,
        public_key_der=record.public_key_der,
        created_at=record.created_at,
        activated_at=record.activated_at,
        retired_at=record.retired_at,
        destroyed_at=record.destroyed_at,
    )


def check_text(name: str, value: str, *, max_len: int) -> None:
    """Refuse an empty, over-long or control-character label/owner/reason (InvalidInput)."""
    if not value.strip() or len(value) > max_len or any(ord(c) < 0x20 for c in value):
        raise InvalidInput(
            f"{name} must be 1..{max_len} printable characters", code=f"keys.bad_{name}"
        )


def get_record(*, session: Session, key_id: str, for_update: bool = False) -> KeyRecord:
    stmt = select(KeyRecord).where(KeyRecord.key_id == key_id)
    record = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if record is None:
        raise NotFound(f"no key {key_id}", code="keys.not_found")
    return record


def _in_state(
    *,
    session: Session,
    usage: KeyUsage,
    owner: str | None,
    algorithm: SignatureAlgorithm,
    status: KeyStatus,
    for_update: bool,
) -> KeyRecord | None:
    stmt = select(KeyRecord).where(
        KeyRecord.usage == usage.value,
        KeyRecord.owner.is_(None) if owner is None else KeyRecord.owner == owner,
        KeyRecord.algorithm == algorithm.value,
        KeyRecord.status == status.value,
    )
    return session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()


def active_record(
    *,
    session: Session,
    usage: KeyUsage,
    owner: str | None,
    algorithm: SignatureAlgorithm,
    for_update: bool = False,
) -> KeyRecord | None:
    """The ACTIVE key of ``(usage, owner, algorithm)``, if any (at most one exists)."""
    return _in_state(
        session=session,
        usage=usage,
        owner=owner,
        algorithm=algorithm,
        status=KeyStatus.ACTIVE,
        for_update=for_update,
    )


def pending_record(
    *,
    session: Session,
    usage: KeyUsage,
    owner: str | None,
    algorithm: SignatureAlgorithm,
    for_update: bool = False,
) -> KeyRecord | None:
    """The PENDING key of ``(usage, owner, algorithm)``, if any (at most one exists)."""
    return _in_state(
        session=session,
        usage=usage,
        owner=owner,
        algorithm=algorithm,
        status=KeyStatus.PENDING,
        for_update=for_update,
    )


def list_infos(*, session: Session, usage: KeyUsage | None, owner: str | None) -> Sequence[KeyInfo]:
    stmt = select(KeyRecord)
    if usage is not None:
        stmt = stmt.where(KeyRecord.usage == usage.value)
    if owner is not None:
        stmt = stmt.where(KeyRecord.owner == owner)
    stmt = stmt.order_by(KeyRecord.usage, KeyRecord.owner, KeyRecord.created_at, KeyRecord.key_id)
    return [to_info(r) for r in session.scalars(stmt)]


def _event(
    session: Session,
    clock: Clock,
    *,
    kind: str,
    record: KeyRecord,
    actor: str,
    extra: dict[str, Any] | None = None,
) -> None:
    payload: dict[str, Any] = {
        "key_id": record.key_id,
        "algorithm": record.algorithm,
        "usage": record.usage,
        "owner": record.owner,
        "status": record.status,
        "label": record.label,
        "public_key_sm3": sm3_hex(record.public_key_der),
        **(extra or {}),
    }
    append(
        session=session,
        clock=clock,
        event=LogEvent(kind=kind, subject=record.key_id, actor=actor, payload=payload),
    )
    log.info("%s %s (%s, %s)", kind, record.key_id, record.usage, record.algorithm)


def _refuse_second(
    session: Session,
    *,
    usage: KeyUsage,
    owner: str | None,
    algorithm: SignatureAlgorithm,
    status: KeyStatus,
) -> None:
    existing = _in_state(
        session=session,
        usage=usage,
        owner=owner,
        algorithm=algorithm,
        status=status,
        for_update=True,
    )
    if existing is not None:
        raise Conflict(
            f"{usage.value} already has a {status.value} {algorithm.value} key "
            f"{existing.key_id}" + (f" for {owner}" if owner else "") + "; rotate instead",
            code=f"keys.{status.value}_exists",
        )


def insert_key(
    *,
    session: Session,
    clock: Clock,
    key_id: str,
    usage: KeyUsage,
    algorithm: SignatureAlgorithm,
    owner: str | None,
    label: str,
    public_key_der: bytes,
    wrapped_private: bytes | None,
    custody: str,
    activate: bool,
    actor: str,
) -> KeyRecord:
    """Record a new key as ACTIVE or PENDING, refusing a second one in that state."""
    status = KeyStatus.ACTIVE if activate else KeyStatus.PENDING
    _refuse_second(session, usage=usage, owner=owner, algorithm=algorithm, status=status)
    now = clock.now()
    record = KeyRecord(
        key_id=key_id,
        algorithm=algorithm.value,
        usage=usage.value,
        status=KeyStatus.PENDING.value,
        owner=owner,
        label=label,
        custody=custody,
        public_key_der=public_key_der,
        wrapped_private=wrapped_private,
        created_at=now,
    )
    session.add(record)
    _flush(session)
    _event(session, clock, kind="key.generated", record=record, actor=actor)
    if activate:
        activate_record(session=session, clock=clock, record=record, actor=actor)
    return record


def _flush(session: Session) -> None:
    """Flush; a constraint violation here means another transaction changed the same keys
    (e.g. two concurrent rotations): refuse as ``Conflict`` - the caller rolls back."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            "keys changed concurrently (a database constraint refused the change); retry",
            code="keys.concurrent_change",
        ) from None


def activate_record(*, session: Session, clock: Clock, record: KeyRecord, actor: str) -> None:
    rotation.check_transition(record.key_id, KeyStatus(record.status), KeyStatus.ACTIVE)
    record.status = KeyStatus.ACTIVE.value
    record.activated_at = clock.now()
    _flush(session)
    _event(session, clock, kind="key.activated", record=record, actor=actor)


def retire(*, session: Session, clock: Clock, record: KeyRecord, actor: str) -> None:
    rotation.check_transition(record.key_id, KeyStatus(record.status), KeyStatus.RETIRED)
    record.status = KeyStatus.RETIRED.value
    record.retired_at = clock.now()
    _flush(session)  # before a successor becomes ACTIVE: the unique index checks per statement
    _event(session, clock, kind="key.retired", record=record, actor=actor)


def destroy(*, session: Session, clock: Clock, record: KeyRecord, reason: str, actor: str) -> None:
    """Erase the wrapped private key; keep metadata and public key."""
    check_text("reason", reason, max_len=500)
    rotation.check_transition(record.key_id, KeyStatus(record.status), KeyStatus.DESTROYED)
    record.status = KeyStatus.DESTROYED.value
    record.wrapped_private = None
    record.destroyed_at = clock.now()
    _flush(session)
    _event(
        session, clock, kind="key.destroyed", record=record, actor=actor, extra={"reason": reason}
    )


def match_fingerprint(
    *,
    session: Session,
    value: bytes,
    register: bool,
    probe: Callable[[KeyRecord], bool],
) -> None:
    """Refuse a keystore whose fingerprint differs from the one recorded for this database.

    With no fingerprint recorded yet: if wrapped keys exist, ``probe`` (try to unwrap one) must
    succeed; then, when ``register`` is true, the fingerprint is recorded (first write).
    Raises ``Misconfigured`` (``keys.master_key_mismatch``) before anything is written.
    """
    row = session.get(KeystoreMeta, FINGERPRINT)
    if row is not None:
        if not constant_time_equal(row.value, value):
            raise _mismatch()
        return
    sample = session.scalars(
        select(KeyRecord).where(KeyRecord.wrapped_private.is_not(None)).limit(1)
    ).one_or_none()
    if sample is not None and not probe(sample):
        raise _mismatch()
    if register:
        _register(session, value)


def _register(session: Session, value: bytes) -> None:
    try:
        with session.begin_nested():
            session.add(KeystoreMeta(name=FINGERPRINT, value=value))
    except IntegrityError:  # another process registered first: it must be the same key
        row = session.get(KeystoreMeta, FINGERPRINT, populate_existing=True)
        if row is None or not constant_time_equal(row.value, value):
            raise _mismatch() from None


def _mismatch() -> Misconfigured:
    return Misconfigured(
        "master key does not match this database: its keys were wrapped with a different "
        "master key (check TRUST_MASTER_KEY / the master key file); nothing was changed",
        code="keys.master_key_mismatch",
    )
