"""Helpers shared by the identity services: row loading, record conversion, transparency-log
and security-event writing, proofing recomputation. Private to the package."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity.assurance import ProofingLevel
from identity.errors import AuthorisationNotFound, OrganisationNotFound, PersonNotFound
from identity.evidence import EvidenceKind, Outcome
from identity.model import AgentAuthorisation, Evidence, LegalPerson, Person, SecurityEvent
from identity.proofing import EvidenceFact, derive_proofing_level
from identity.records import AuthorisationRecord, EvidenceRecord, OrganisationRecord, PersonRecord
from trust.clock import Clock
from trust.errors import Conflict, InvalidInput
from trust.ids import new_id
from trust.tlog import LogEvent, append

__all__: list[str] = []

_ID_RE_MAX: Final = 40
#: Detail keys a security event may carry; anything else is dropped (no free-form personal data).
_SAFE_DETAIL_KEYS: Final = frozenset(
    {
        "reason",
        "login_kind",
        "method",
        "kind",
        "outcome",
        "evidence_id",
        "authorisation_id",
        "scopes",
        "failures",
        "locked_until",
        "phone_masked",
        "proofing_level",
        "client_id",
        "scope",
    }
)


def check_id(value: str, prefix: str) -> str:
    """An identifier from outside: right prefix and shape, else ``InvalidInput``."""
    if (
        not isinstance(value, str)
        or not value.startswith(prefix + "_")
        or len(value) > _ID_RE_MAX
        or not value.isascii()
        or not value.replace("_", "").isalnum()
    ):
        raise InvalidInput("标识格式不正确", code="identity.bad_id")
    return value


def person_row(session: Session, person_id: str, *, for_update: bool = False) -> Person:
    stmt = select(Person).where(Person.id == person_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise PersonNotFound("账户不存在")
    return row


def legal_person_row(session: Session, legal_person_id: str) -> LegalPerson:
    row = session.get(LegalPerson, legal_person_id)
    if row is None:
        raise OrganisationNotFound("法人账户不存在")
    return row


def authorisation_row(session: Session, authorisation_id: str) -> AgentAuthorisation:
    row = session.get(AgentAuthorisation, authorisation_id)
    if row is None:
        raise AuthorisationNotFound("授权不存在")
    return row


def person_record(row: Person, *, has_totp: bool = False) -> PersonRecord:
    return PersonRecord(
        id=row.id,
        name=row.name,
        id_number_masked=row.id_number_masked,
        phone=row.phone,
        phone_verified=row.phone_verified_at is not None,
        username=row.username,
        proofing_level=ProofingLevel(row.proofing_level),
        has_password=row.password_hash is not None,
        has_totp=has_totp,
        network_id_linked=row.network_id is not None,
        status=row.status,
        created_at=row.created_at,
    )


def organisation_record(row: LegalPerson) -> OrganisationRecord:
    return OrganisationRecord(
        id=row.id,
        name=row.name,
        uscc=row.uscc,
        legal_rep_id=row.legal_rep_id,
        proofing_level=ProofingLevel(row.proofing_level),
        status=row.status,
        created_at=row.created_at,
    )


def authorisation_record(row: AgentAuthorisation) -> AuthorisationRecord:
    return AuthorisationRecord(
        id=row.id,
        legal_person_id=row.legal_person_id,
        agent_id=row.agent_id,
        granted_by=row.granted_by,
        scopes=tuple(row.scopes.split()),
        not_before=row.not_before,
        not_after=row.not_after,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def evidence_record(row: Evidence) -> EvidenceRecord:
    return EvidenceRecord(
        id=row.id,
        kind=EvidenceKind(row.kind),
        outcome=Outcome(row.outcome),
        reason=row.reason,
        source=row.source,
        request_ref=row.request_ref,
        response_digest_hex=row.response_digest.hex(),
        verified_at=row.verified_at,
    )


def log(
    session: Session, clock: Clock, kind: str, subject: str, actor: str, **payload: Any
) -> None:
    """Transparency-log event ``identity.<kind>`` in the caller's transaction. Payloads carry
    identifiers, codes and digests only - never a citizen ID number, password or code."""
    event = LogEvent(kind=f"identity.{kind}", subject=subject, actor=actor, payload=payload)
    append(session=session, clock=clock, event=event)


def security_event(
    session: Session,
    clock: Clock,
    kind: str,
    *,
    person_id: str | None = None,
    legal_person_id: str | None = None,
    client_ip: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    safe = {k: v for k, v in (detail or {}).items() if k in _SAFE_DETAIL_KEYS}
    session.add(
        SecurityEvent(
            id=new_id("sev"),
            kind=kind,
            person_id=person_id,
            legal_person_id=legal_person_id,
            client_ip=(client_ip or None) and client_ip[:64],
            at=clock.now(),
            detail=safe,
        )
    )


def flush_or(session: Session, error: Conflict) -> None:
    """Flush; a unique-constraint race lost to a concurrent request becomes ``error``."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise error from exc


def recompute_proofing(session: Session, subject_kind: str, subject_id: str) -> ProofingLevel:
    rows = session.scalars(
        select(Evidence).where(
            Evidence.subject_kind == subject_kind, Evidence.subject_id == subject_id
        )
    )
    facts = [
        EvidenceFact(r.id, EvidenceKind(r.kind), Outcome(r.outcome), dict(r.details or {}))
        for r in rows
    ]
    outcome = derive_proofing_level(facts)
    target: Person | LegalPerson | None = (
        session.get(Person, subject_id)
        if subject_kind == "person"
        else session.get(LegalPerson, subject_id)
    )
    if target is None:  # pragma: no cover - evidence is only written for existing subjects
        raise PersonNotFound("账户不存在")
    target.proofing_level = int(outcome.level)
    target.proofing_basis = outcome.basis
    return outcome.level
