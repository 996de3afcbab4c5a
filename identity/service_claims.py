"""Claims about a person and the legal person they act for, for the OpenID Provider's ID token
and userinfo (OIDC Core §5.1, §5.4; OpenID Connect for Identity Assurance 1.0; ``specs/identity.md``
§8.3, §9), and the consent records that gate personal data.

Scopes and what they release:

- ``profile``: ``name``;
- ``phone``: ``phone_number`` (E.164, ``+86…``) and ``phone_number_verified``;
- ``realname``: ``verified_claims`` (trust framework ``cn_gov_realname``, assurance level,
  evidence types and times - not the evidence contents);
- ``realname_id``: ``cn_citizen_id`` (the citizen ID number), **only** if the person consented
  to release it to this client (``grant_consent``); otherwise it is silently left out.

``sub`` is the OIDC layer's (pairwise per sector); the citizen ID number is never one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.assurance import ACR_LADDER
from identity.errors import AuthorisationNotFound
from identity.evidence import EvidenceKind, Outcome
from identity.keying import IdentityKeys
from identity.model import AgentAuthorisation, Consent, Evidence
from identity.service_accounts import id_number_of
from trust.clock import Clock
from trust.errors import InvalidInput
from trust.ids import new_id

__all__ = [
    "CONSENT_SCOPES",
    "TRUST_FRAMEWORK",
    "grant_consent",
    "has_consent",
    "legal_person_claims",
    "person_claims",
    "revoke_consent",
]

TRUST_FRAMEWORK: Final = "cn_gov_realname"
#: Scopes that need a stored, per-client consent before anything is released.
CONSENT_SCOPES: Final = frozenset({"realname_id"})
#: OIDC4IA ``check_method`` per evidence kind (vpip: in person; bvr: biometric, remote;
#: vcrypt: cryptographic; data: checked against an authoritative record).
_CHECK_METHOD: Final = {
    EvidenceKind.POPULATION: "data",
    EvidenceKind.ENTERPRISE: "data",
    EvidenceKind.BANK_CARD: "data",
    EvidenceKind.FACE: "bvr",
    EvidenceKind.NETWORK_ID: "vcrypt",
    EvidenceKind.FEDERATION: "vcrypt",
    EvidenceKind.CERTIFICATE: "vcrypt",
    EvidenceKind.IN_PERSON: "vpip",
}


def _client(client_id: str) -> str:
    if (
        not isinstance(client_id, str)
        or not 1 <= len(client_id) <= 100
        or not client_id.isprintable()
    ):
        raise InvalidInput("客户端标识无效", code="identity.bad_client_id")
    return client_id


def _consent_scope(scope: str) -> str:
    if scope not in CONSENT_SCOPES:
        raise InvalidInput(f"该范围无需单独同意：{scope[:40]}", code="identity.bad_scope")
    return scope


def grant_consent(
    *, session: Session, clock: Clock, person_id: str, client_id: str, scope: str
) -> None:
    """Record that the person agrees to release ``scope`` to ``client_id`` (idempotent)."""
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    cid, sc = _client(client_id), _consent_scope(scope)
    existing = session.scalar(
        select(Consent).where(
            Consent.person_id == row.id, Consent.client_id == cid, Consent.scope == sc
        )
    )
    if existing is None:
        session.add(
            Consent(
                id=new_id("cns"), person_id=row.id, client_id=cid, scope=sc, granted_at=clock.now()
            )
        )
    else:
        existing.granted_at, existing.revoked_at = clock.now(), None
    sh.security_event(
        session, clock, "consent.granted", person_id=row.id, detail={"client_id": cid, "scope": sc}
    )


def revoke_consent(
    *, session: Session, clock: Clock, person_id: str, client_id: str, scope: str
) -> None:
    row = session.scalar(
        select(Consent).where(
            Consent.person_id == person_id, Consent.client_id == client_id, Consent.scope == scope
        )
    )
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        sh.security_event(
            session,
            clock,
            "consent.revoked",
            person_id=person_id,
            detail={"client_id": client_id, "scope": scope},
        )


def has_consent(*, session: Session, person_id: str, client_id: str, scope: str) -> bool:
    return (
        session.scalar(
            select(Consent.id).where(
                Consent.person_id == person_id,
                Consent.client_id == client_id,
                Consent.scope == scope,
                Consent.revoked_at.is_(None),
            )
        )
        is not None
    )


def _verified_claims(session: Session, person_id: str, name: str, level: int) -> dict[str, Any]:
    rows = list(
        session.scalars(
            select(Evidence)
            .where(
                Evidence.subject_kind == "person",
                Evidence.subject_id == person_id,
                Evidence.outcome == Outcome.MATCH.value,
                Evidence.kind != EvidenceKind.PHONE_OTP.value,
            )
            .order_by(Evidence.verified_at)
        )
    )
    evidence = [
        {
            "type": "electronic_record",
            "check_details": [
                {
                    "check_method": _CHECK_METHOD.get(EvidenceKind(r.kind), "data"),
                    "txn": r.id,
                    "time": r.verified_at.isoformat(),
                }
            ],
            "record": {"type": r.kind},
        }
        for r in rows
    ]
    verification: dict[str, Any] = {
        "trust_framework": TRUST_FRAMEWORK,
        "assurance_level": f"P{level}",
        "evidence": evidence,
    }
    if rows:
        verification["time"] = rows[-1].verified_at.isoformat()
    return {"verification": verification, "claims": {"name": name}}


def person_claims(
    *,
    session: Session,
    keys: IdentityKeys,
    person_id: str,
    scopes: Iterable[str],
    client_id: str,
) -> dict[str, Any]:
    """Claims released for ``scopes`` to ``client_id`` (see the module docstring)."""
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    wanted = set(scopes)
    claims: dict[str, Any] = {}
    if "profile" in wanted:
        claims["name"] = row.name
    if "phone" in wanted:
        claims["phone_number"] = f"+86{row.phone}"
        claims["phone_number_verified"] = row.phone_verified_at is not None
    if "realname" in wanted:
        claims["verified_claims"] = _verified_claims(session, row.id, row.name, row.proofing_level)
    if "realname_id" in wanted and has_consent(
        session=session, person_id=row.id, client_id=_client(client_id), scope="realname_id"
    ):
        claims["cn_citizen_id"] = id_number_of(row, keys)
        if "verified_claims" in claims and row.proofing_level >= 2:
            # OIDC4IA §5: from P2 on, the ID number was checked against an authoritative
            # source too - a broker relying on us tells verified from self-asserted this way.
            claims["verified_claims"]["claims"]["cn_citizen_id"] = claims["cn_citizen_id"]
    return claims


def legal_person_claims(
    *, session: Session, clock: Clock, person_id: str, legal_person_id: str
) -> dict[str, Any]:
    """The ``legal_person`` claim (§9) for a person acting for ``legal_person_id`` *now*: as its
    legal representative, or under an agent authorisation valid at ``clock.now()``. Raises
    ``identity.authorisation_not_found`` if the person may not act for it (never guesses)."""
    legal = sh.legal_person_row(session, sh.check_id(legal_person_id, "lp"))
    pid = sh.check_id(person_id, "psn")
    base: dict[str, Any] = {
        "uscc": legal.uscc,
        "name": legal.name,
        "authorisation_assurance": ACR_LADDER[legal.proofing_level - 1].value,
    }
    if legal.status == "active" and legal.legal_rep_id == pid:
        return {"legal_person": base | {"role": "legal_rep"}}
    now = clock.now()
    auth = session.scalar(
        select(AgentAuthorisation).where(
            AgentAuthorisation.legal_person_id == legal.id,
            AgentAuthorisation.agent_id == pid,
            AgentAuthorisation.revoked_at.is_(None),
            AgentAuthorisation.not_before <= now,
            AgentAuthorisation.not_after > now,
        )
    )
    if auth is None or legal.status != "active":
        raise AuthorisationNotFound("该用户无权代表此法人")
    return {
        "legal_person": base
        | {
            "role": "agent",
            "authorisation_id": auth.id,
            "authorisation_expires": int(auth.not_after.timestamp()),
            "scopes": auth.scopes.split(),
        }
    }
