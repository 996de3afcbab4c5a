"""Row access, records and logging shared by the seal services (registry, stamping,
verification)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seals.errors import SealNotFound
from seals.lifecycle import SealStatus, SealType, effective_status, type_info
from seals.model import Seal, SealAssignment
from seals.policy import SealFacts
from trust.clock import Clock
from trust.principals import service as principals
from trust.tlog import AppendedEvent, LogEvent, append

__all__ = ["SealRecord", "facts_of", "load_seal", "log_event", "named", "record_of"]


def log_event(
    session: Session, clock: Clock, what: str, seal_id: str, actor: str, **payload: Any
) -> AppendedEvent:
    """Append ``seal.<what>`` about ``seal_id`` in the caller's transaction."""
    event = LogEvent(kind=f"seal.{what}", subject=seal_id, actor=actor, payload=payload)
    return append(session=session, clock=clock, event=event)


def load_seal(session: Session, seal_id: str, *, lock: bool = False) -> Seal:
    """The seal's row (``FOR UPDATE`` with ``lock``); ``seal.not_found`` otherwise."""
    stmt = select(Seal).where(Seal.id == seal_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise SealNotFound(f"印章 {seal_id} 不存在")
    return row


def named(session: Session, seal_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The seal's named custodians and users (``Principal.actor`` strings)."""
    rows = session.scalars(
        select(SealAssignment).where(SealAssignment.seal_id == seal_id).order_by(SealAssignment.id)
    )
    custodians: list[str] = []
    users: list[str] = []
    for r in rows:
        (custodians if r.duty == "custodian" else users).append(r.principal)
    return tuple(custodians), tuple(users)


def facts_of(session: Session, row: Seal) -> SealFacts:
    custodians, users = named(session, row.id)
    return SealFacts(
        seal_id=row.id,
        organisation_id=row.organisation_id,
        status=SealStatus(row.status),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        custodians=frozenset(custodians),
        users=frozenset(users),
    )


@dataclass(frozen=True, slots=True)
class SealRecord:
    id: str
    organisation_id: str
    organisation_name: str
    organisation_uscc: str
    seal_type: SealType
    type_label: str
    name: str
    es_id: str
    #: The state that applies now (``expired`` once the validity has ended).
    status: SealStatus
    recorded_status: SealStatus
    status_reason: str
    status_changed_at: datetime
    valid_from: datetime
    valid_to: datetime
    two_person_rule: bool
    picture_source: str
    picture_size_mm: tuple[int, int]
    holder_key_id: str | None
    holder_cert_serial: str | None
    esl_sm3: str | None
    made_at: datetime | None
    created_at: datetime
    created_by: str
    custodians: tuple[str, ...]
    users: tuple[str, ...]


def record_of(session: Session, row: Seal, now: datetime) -> SealRecord:
    org = principals.get_organisation(session=session, organisation_id=row.organisation_id)
    custodians, users = named(session, row.id)
    seal_type = SealType(row.seal_type)
    recorded = SealStatus(row.status)
    return SealRecord(
        id=row.id,
        organisation_id=row.organisation_id,
        organisation_name=org.name,
        organisation_uscc=org.uscc,
        seal_type=seal_type,
        type_label=type_info(seal_type).label,
        name=row.name,
        es_id=row.es_id,
        status=effective_status(recorded, valid_to=row.valid_to, now=now),
        recorded_status=recorded,
        status_reason=row.status_reason,
        status_changed_at=row.status_changed_at,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        two_person_rule=row.two_person_rule,
        picture_source=row.picture_source,
        picture_size_mm=(row.picture_width_mm, row.picture_height_mm),
        holder_key_id=row.holder_key_id,
        holder_cert_serial=row.holder_cert_serial,
        esl_sm3=row.esl_sm3,
        made_at=row.made_at,
        created_at=row.created_at,
        created_by=row.created_by,
        custodians=custodians,
        users=users,
    )
