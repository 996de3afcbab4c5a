"""Legal representatives and agents (经办人): grant, revoke, list (``specs/identity.md`` §9).

The login subject is always a natural person; a person acts for a legal person either as its
legal representative (by law, all scopes) or as an agent under an authorisation the legal
representative granted, with scopes (``identity.scopes``) and validity
``not_before <= t < not_after``. Every grant and revocation is appended to the transparency log
in the same transaction (``identity.agent_granted`` / ``identity.agent_revoked``) and recorded
as a security event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.errors import AgentAlreadyAuthorised, AuthorisationNotFound, NotLegalRepresentative
from identity.model import AgentAuthorisation, LegalPerson
from identity.records import ActingFor, AuthorisationRecord
from identity.scopes import normalise_scopes, scopes_text
from trust.clock import Clock, utc
from trust.errors import InvalidInput
from trust.ids import new_id

__all__ = [
    "MAX_AUTHORISATION_VALIDITY",
    "authorisations_for",
    "authorisations_held",
    "get_authorisation",
    "grant_agent",
    "list_agents",
    "revoke_agent",
]

#: An authorisation lasts at most this long; the legal representative renews it after.
MAX_AUTHORISATION_VALIDITY: Final = timedelta(days=366 * 3)


def _require_legal_rep(legal: LegalPerson, person_id: str) -> None:
    if legal.legal_rep_id != person_id:
        raise NotLegalRepresentative("仅法定代表人可以授权或撤销经办人")


def _validity(
    now: datetime, not_before: datetime | None, not_after: datetime
) -> tuple[datetime, datetime]:
    start = utc(not_before) if not_before is not None else now
    end = utc(not_after)
    if end <= start or end <= now:
        raise InvalidInput(
            "授权有效期无效：结束时间须晚于开始时间和当前时间", code="identity.bad_validity"
        )
    if end - start > MAX_AUTHORISATION_VALIDITY:
        raise InvalidInput("授权有效期不得超过三年", code="identity.bad_validity")
    return start, end


def grant_agent(
    *,
    session: Session,
    clock: Clock,
    legal_person_id: str,
    granted_by: str,
    agent_id: str,
    scopes: Iterable[str],
    not_after: datetime,
    not_before: datetime | None = None,
) -> AuthorisationRecord:
    """The legal representative ``granted_by`` authorises ``agent_id`` to act for the legal
    person. Refused: not the legal representative (``identity.not_legal_representative``),
    unknown scope / bad validity (``InvalidInput``), an authorisation for the same agent still
    valid or pending (``identity.agent_already_authorised``)."""
    legal = sh.legal_person_row(session, sh.check_id(legal_person_id, "lp"))
    _require_legal_rep(legal, sh.check_id(granted_by, "psn"))
    agent = sh.person_row(session, sh.check_id(agent_id, "psn"))
    if agent.id == legal.legal_rep_id:
        raise InvalidInput("法定代表人无需授权自己", code="identity.agent_is_legal_rep")
    chosen = normalise_scopes(scopes)
    now = clock.now()
    start, end = _validity(now, not_before, not_after)
    live = session.scalar(
        select(AgentAuthorisation.id).where(
            AgentAuthorisation.legal_person_id == legal.id,
            AgentAuthorisation.agent_id == agent.id,
            AgentAuthorisation.revoked_at.is_(None),
            AgentAuthorisation.not_after > now,
        )
    )
    if live is not None:
        raise AgentAlreadyAuthorised("该经办人已有有效授权，请先撤销")
    row = AgentAuthorisation(
        id=new_id("agt"),
        legal_person_id=legal.id,
        agent_id=agent.id,
        granted_by=granted_by,
        scopes=scopes_text(chosen),
        not_before=start,
        not_after=end,
        created_at=now,
    )
    session.add(row)
    session.flush()
    sh.log(
        session,
        clock,
        "agent_granted",
        row.id,
        f"person:{granted_by}",
        legal_person=legal.id,
        agent=agent.id,
        scopes=list(chosen),
        not_before=int(start.timestamp()),
        not_after=int(end.timestamp()),
    )
    sh.security_event(
        session,
        clock,
        "agent.granted",
        person_id=granted_by,
        legal_person_id=legal.id,
        detail={"authorisation_id": row.id, "scopes": list(chosen)},
    )
    return sh.authorisation_record(row)


def revoke_agent(
    *,
    session: Session,
    clock: Clock,
    legal_person_id: str,
    authorisation_id: str,
    revoked_by: str,
    reason: str = "revoked by the legal representative",
) -> AuthorisationRecord:
    """Revoke at once. Revoking an already revoked authorisation returns it unchanged (no new
    log entry)."""
    legal = sh.legal_person_row(session, sh.check_id(legal_person_id, "lp"))
    _require_legal_rep(legal, sh.check_id(revoked_by, "psn"))
    row = sh.authorisation_row(session, sh.check_id(authorisation_id, "agt"))
    if row.legal_person_id != legal.id:
        raise AuthorisationNotFound("授权不存在")
    if row.revoked_at is not None:
        return sh.authorisation_record(row)
    clean_reason = " ".join(str(reason).split())[:200] or "revoked"
    row.revoked_at, row.revoked_by, row.revocation_reason = clock.now(), revoked_by, clean_reason
    session.flush()
    sh.log(
        session,
        clock,
        "agent_revoked",
        row.id,
        f"person:{revoked_by}",
        legal_person=legal.id,
        agent=row.agent_id,
        reason=clean_reason,
    )
    sh.security_event(
        session,
        clock,
        "agent.revoked",
        person_id=revoked_by,
        legal_person_id=legal.id,
        detail={"authorisation_id": row.id},
    )
    return sh.authorisation_record(row)


def get_authorisation(*, session: Session, authorisation_id: str) -> AuthorisationRecord:
    return sh.authorisation_record(
        sh.authorisation_row(session, sh.check_id(authorisation_id, "agt"))
    )


def list_agents(*, session: Session, legal_person_id: str) -> list[AuthorisationRecord]:
    rows = session.scalars(
        select(AgentAuthorisation)
        .where(AgentAuthorisation.legal_person_id == legal_person_id)
        .order_by(AgentAuthorisation.created_at, AgentAuthorisation.id)
    )
    return [sh.authorisation_record(r) for r in rows]


def authorisations_held(
    *, session: Session, person_id: str
) -> list[tuple[AuthorisationRecord, str, str]]:
    """Every authorisation ``person_id`` holds as an agent (valid, pending, expired or
    revoked), newest first, each with its legal person's name and USCC."""
    pairs = session.execute(
        select(AgentAuthorisation, LegalPerson.name, LegalPerson.uscc)
        .join(LegalPerson, LegalPerson.id == AgentAuthorisation.legal_person_id)
        .where(AgentAuthorisation.agent_id == person_id)
        .order_by(AgentAuthorisation.created_at.desc(), AgentAuthorisation.id)
    )
    return [(sh.authorisation_record(auth), name, uscc) for auth, name, uscc in pairs]


def authorisations_for(*, session: Session, clock: Clock, person_id: str) -> list[ActingFor]:
    """Organisations ``person_id`` can act for *now*, for organisation selection at login:
    as legal representative, or as agent under an authorisation valid at ``clock.now()``.
    Ordered by organisation name; never guesses a default (§3 lesson)."""
    now = clock.now()
    out: list[ActingFor] = []
    for legal in session.scalars(
        select(LegalPerson).where(
            LegalPerson.legal_rep_id == person_id, LegalPerson.status == "active"
        )
    ):
        out.append(ActingFor(legal.id, legal.name, legal.uscc, "legal_rep", None, (), None))
    pairs = session.execute(
        select(AgentAuthorisation, LegalPerson)
        .join(LegalPerson, LegalPerson.id == AgentAuthorisation.legal_person_id)
        .where(
            AgentAuthorisation.agent_id == person_id,
            AgentAuthorisation.revoked_at.is_(None),
            AgentAuthorisation.not_before <= now,
            AgentAuthorisation.not_after > now,
            LegalPerson.status == "active",
        )
    )
    for auth, legal in pairs:
        out.append(
            ActingFor(
                legal.id,
                legal.name,
                legal.uscc,
                "agent",
                auth.id,
                tuple(auth.scopes.split()),
                auth.not_after,
            )
        )
    return sorted(out, key=lambda a: (a.name, a.role, a.authorisation_id or ""))
