"""Registration at the edges, agent grants and revocations in the transparency log, organisation
selection, claims and consent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity import _shared, service
from identity.errors import (
    AgentAlreadyAuthorised,
    AuthorisationNotFound,
    IdNumberTaken,
    NotLegalRepresentative,
    PhoneTaken,
    UsccTaken,
)
from identity.keying import IdentityKeys
from identity.model import AgentAuthorisation, Person
from identity.records import OrganisationRecord, PersonRecord
from identity.sim_data import SimRegistryData
from identity.verifiers import Verifiers
from tests.integration.identity._factories import make_organisation, make_person
from trust.clock import FixedClock
from trust.errors import InvalidInput
from trust.tlog.model import TlogEntry


@pytest.mark.parametrize(
    ("id_number", "code"),
    [
        ("11010519491231002", "citizen_id.malformed"),
        ("110105194912310021", "citizen_id.bad_check_char"),
        ("110105194913310029", "citizen_id.bad_birth_date"),
        ("11010519491231002Y", "citizen_id.malformed"),
        ("011010519491231002X", "citizen_id.malformed"),
        ("110105203012310028", "citizen_id.bad_birth_date"),  # born in the future
    ],
)
def test_bad_citizen_id_refused_with_stable_code(
    session: Session, clock: FixedClock, keys: IdentityKeys, id_number: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.register_person(
            session=session,
            clock=clock,
            keys=keys,
            name="张三",
            id_number=id_number,
            phone="13800000000",
        )
    assert caught.value.code == code
    assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_lower_case_x_is_normalised_and_duplicates_refused(
    session: Session, clock: FixedClock, keys: IdentityKeys
) -> None:
    p = service.register_person(
        session=session,
        clock=clock,
        keys=keys,
        name="张三",
        id_number="11010519491231002x",
        phone="138 0000 0000",
    )
    assert p.id_number_masked == "110*************2X"
    assert p.phone == "13800000000"
    with pytest.raises(IdNumberTaken):
        service.register_person(
            session=session,
            clock=clock,
            keys=keys,
            name="李四",
            id_number="11010519491231002X",
            phone="13800000001",
        )
    with pytest.raises(PhoneTaken):
        service.register_person(
            session=session,
            clock=clock,
            keys=keys,
            name="李四",
            id_number="440524188001010014",
            phone="+8613800000000",
        )


@pytest.mark.parametrize(
    ("uscc", "code"),
    [
        ("91350100M000100Y4", "uscc.malformed"),
        ("91350100M000100Y44", "uscc.bad_check_char"),
        ("9135010OM000100Y43", "uscc.malformed"),  # letter O is not in the alphabet
        ("91350100M0001TGQXM", "uscc.bad_check_char"),  # early pilot code (spec §5.1 pitfall)
    ],
)
def test_bad_uscc_refused_with_stable_code(
    session: Session, clock: FixedClock, keys: IdentityKeys, citizen: Any, uscc: str, code: str
) -> None:
    rep = make_person(session, clock, keys, citizen)
    with pytest.raises(InvalidInput) as caught:
        service.register_organisation(
            session=session,
            clock=clock,
            name="某公司",
            uscc=uscc,
            legal_rep_id=rep.id,
            actor="test",
        )
    assert caught.value.code == code


def test_uscc_registered_once(
    session: Session, clock: FixedClock, keys: IdentityKeys, sim_data: SimRegistryData
) -> None:
    rep = make_person(session, clock, keys, sim_data.citizens[0])
    make_organisation(session, clock, sim_data.enterprises[0], rep)
    with pytest.raises(UsccTaken):
        make_organisation(session, clock, sim_data.enterprises[0], rep)


def test_id_number_is_stored_encrypted_and_hashed_only(
    session: Session, clock: FixedClock, keys: IdentityKeys, citizen: Any
) -> None:
    p = make_person(session, clock, keys, citizen)
    row = session.get(Person, p.id)
    assert row is not None
    assert citizen.id_number.encode() not in row.id_number_enc
    assert citizen.id_number not in repr(p)
    assert row.id_number_hash != citizen.id_number.encode()


# --- agents -------------------------------------------------------------------------------------


@pytest.fixture
def company(
    session: Session, clock: FixedClock, keys: IdentityKeys, sim_data: SimRegistryData
) -> tuple[OrganisationRecord, PersonRecord, PersonRecord]:
    rep = make_person(session, clock, keys, sim_data.citizens[0])
    agent = make_person(session, clock, keys, sim_data.citizens[1])
    org = make_organisation(session, clock, sim_data.enterprises[0], rep)
    return org, rep, agent


def _entries(session: Session, kind: str) -> list[TlogEntry]:
    return list(session.scalars(select(TlogEntry).where(TlogEntry.kind == kind)))


def test_grant_and_revoke_are_logged_and_listed(
    session: Session, clock: FixedClock, company: Any
) -> None:
    org, rep, agent = company
    grant = service.grant_agent(
        session=session,
        clock=clock,
        legal_person_id=org.id,
        granted_by=rep.id,
        agent_id=agent.id,
        scopes=["licence:view", "licence:apply", "licence:view"],
        not_after=clock.now() + timedelta(days=30),
    )
    assert grant.scopes == ("licence:apply", "licence:view")
    [entry] = _entries(session, "identity.agent_granted")
    assert entry.subject == grant.id
    acting = service.authorisations_for(session=session, clock=clock, person_id=agent.id)
    assert [(a.legal_person_id, a.role, a.authorisation_id) for a in acting] == [
        (org.id, "agent", grant.id)
    ]
    [own] = service.authorisations_for(session=session, clock=clock, person_id=rep.id)
    assert own.role == "legal_rep"
    assert own.authorisation_id is None
    claims = service.legal_person_claims(
        session=session, clock=clock, person_id=agent.id, legal_person_id=org.id
    )
    assert claims["legal_person"]["role"] == "agent"
    assert claims["legal_person"]["authorisation_id"] == grant.id
    assert claims["legal_person"]["uscc"] == org.uscc
    with pytest.raises(AgentAlreadyAuthorised):
        service.grant_agent(
            session=session,
            clock=clock,
            legal_person_id=org.id,
            granted_by=rep.id,
            agent_id=agent.id,
            scopes=["seal:use"],
            not_after=clock.now() + timedelta(days=1),
        )
    revoked = service.revoke_agent(
        session=session,
        clock=clock,
        legal_person_id=org.id,
        authorisation_id=grant.id,
        revoked_by=rep.id,
    )
    assert revoked.revoked_at == clock.now()
    assert len(_entries(session, "identity.agent_revoked")) == 1
    assert service.authorisations_for(session=session, clock=clock, person_id=agent.id) == []
    with pytest.raises(AuthorisationNotFound):
        service.legal_person_claims(
            session=session, clock=clock, person_id=agent.id, legal_person_id=org.id
        )
    service.revoke_agent(
        session=session,
        clock=clock,
        legal_person_id=org.id,
        authorisation_id=grant.id,
        revoked_by=rep.id,
    )
    assert len(_entries(session, "identity.agent_revoked")) == 1  # idempotent, logged once


def test_only_the_legal_representative_grants(
    session: Session, clock: FixedClock, company: Any
) -> None:
    org, _rep, agent = company
    with pytest.raises(NotLegalRepresentative) as caught:
        service.grant_agent(
            session=session,
            clock=clock,
            legal_person_id=org.id,
            granted_by=agent.id,
            agent_id=agent.id,
            scopes=["seal:use"],
            not_after=clock.now() + timedelta(days=1),
        )
    assert caught.value.http_status == 403


@pytest.mark.parametrize(
    ("scopes", "days", "code"),
    [
        (["seal:destroy"], 1, "identity.bad_scope"),
        ([], 1, "identity.bad_scope"),
        (["seal:use"], -1, "identity.bad_validity"),
        (["seal:use"], 5000, "identity.bad_validity"),
    ],
)
def test_bad_scope_or_validity(
    session: Session, clock: FixedClock, company: Any, scopes: list[str], days: int, code: str
) -> None:
    org, rep, agent = company
    with pytest.raises(InvalidInput) as caught:
        service.grant_agent(
            session=session,
            clock=clock,
            legal_person_id=org.id,
            granted_by=rep.id,
            agent_id=agent.id,
            scopes=scopes,
            not_after=clock.now() + timedelta(days=days),
        )
    assert caught.value.code == code


def test_validity_window_is_respected(session: Session, clock: FixedClock, company: Any) -> None:
    org, rep, agent = company
    service.grant_agent(
        session=session,
        clock=clock,
        legal_person_id=org.id,
        granted_by=rep.id,
        agent_id=agent.id,
        scopes=["matter:apply"],
        not_before=clock.now() + timedelta(days=1),
        not_after=clock.now() + timedelta(days=2),
    )
    assert service.authorisations_for(session=session, clock=clock, person_id=agent.id) == []
    clock.advance(timedelta(days=1, hours=1))
    assert len(service.authorisations_for(session=session, clock=clock, person_id=agent.id)) == 1
    clock.advance(timedelta(days=1))
    assert service.authorisations_for(session=session, clock=clock, person_id=agent.id) == []


def test_failure_after_the_grant_row_leaves_no_row_and_no_log_entry(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    sim_data: SimRegistryData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with db() as s, s.begin():
        rep = make_person(s, clock, keys, sim_data.citizens[0])
        agent = make_person(s, clock, keys, sim_data.citizens[1])
        org = make_organisation(s, clock, sim_data.enterprises[0], rep)
    with db() as s:
        before = s.scalar(select(func.count()).select_from(TlogEntry))

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("injected failure after the grant row and its log entry")

    monkeypatch.setattr(_shared, "security_event", boom)
    with pytest.raises(RuntimeError), db() as s, s.begin():
        service.grant_agent(
            session=s,
            clock=clock,
            legal_person_id=org.id,
            granted_by=rep.id,
            agent_id=agent.id,
            scopes=["seal:use"],
            not_after=clock.now() + timedelta(days=1),
        )
    with db() as s:
        assert s.scalar(select(func.count()).select_from(AgentAuthorisation)) == 0
        assert s.scalar(select(func.count()).select_from(TlogEntry)) == before


# --- claims and consent ---------------------------------------------------------------------


def test_person_claims_and_consent(
    session: Session, clock: FixedClock, keys: IdentityKeys, verifiers: Verifiers, citizen: Any
) -> None:
    p = make_person(session, clock, keys, citizen)
    service.verify_population(
        session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=p.id
    )
    scopes = ["openid", "profile", "phone", "realname", "realname_id"]
    claims = service.person_claims(
        session=session, keys=keys, person_id=p.id, scopes=scopes, client_id="portal"
    )
    assert claims["name"] == citizen.name
    assert claims["phone_number"] == "+86" + citizen.phone
    assert claims["phone_number_verified"] is False
    assert "cn_citizen_id" not in claims  # no consent yet
    verification = claims["verified_claims"]["verification"]
    assert verification["trust_framework"] == "cn_gov_realname"
    assert verification["assurance_level"] == "P2"
    assert verification["evidence"][0]["record"]["type"] == "population"
    service.grant_consent(
        session=session, clock=clock, person_id=p.id, client_id="portal", scope="realname_id"
    )
    claims = service.person_claims(
        session=session, keys=keys, person_id=p.id, scopes=scopes, client_id="portal"
    )
    assert claims["cn_citizen_id"] == citizen.id_number
    other = service.person_claims(
        session=session, keys=keys, person_id=p.id, scopes=scopes, client_id="another-portal"
    )
    assert "cn_citizen_id" not in other
    service.revoke_consent(
        session=session, clock=clock, person_id=p.id, client_id="portal", scope="realname_id"
    )
    assert "cn_citizen_id" not in service.person_claims(
        session=session, keys=keys, person_id=p.id, scopes=scopes, client_id="portal"
    )
    assert (
        service.person_claims(
            session=session, keys=keys, person_id=p.id, scopes=["openid"], client_id="portal"
        )
        == {}
    )


def test_legal_rep_claims(session: Session, clock: FixedClock, company: Any) -> None:
    org, rep, _agent = company
    claims = service.legal_person_claims(
        session=session, clock=clock, person_id=rep.id, legal_person_id=org.id
    )
    assert claims == {
        "legal_person": {
            "uscc": org.uscc,
            "name": org.name,
            "role": "legal_rep",
            "authorisation_assurance": "urn:ywtb:loa:1",
        }
    }
