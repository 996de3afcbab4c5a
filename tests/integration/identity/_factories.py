"""Identity factories: register synthetic people and organisations from the simulated registry."""

from __future__ import annotations

from sqlalchemy.orm import Session

from identity import service
from identity.keying import IdentityKeys
from identity.records import OrganisationRecord, PersonRecord
from identity.sim_data import SimCitizen, SimEnterprise
from trust.clock import Clock

PASSWORD = "correct horse battery"


def make_person(
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    citizen: SimCitizen,
    *,
    password: str | None = PASSWORD,
    username: str | None = None,
) -> PersonRecord:
    return service.register_person(
        session=session,
        clock=clock,
        keys=keys,
        name=citizen.name,
        id_number=citizen.id_number,
        phone=citizen.phone,
        password=password,
        username=username,
    )


def make_organisation(
    session: Session, clock: Clock, enterprise: SimEnterprise, legal_rep: PersonRecord
) -> OrganisationRecord:
    return service.register_organisation(
        session=session,
        clock=clock,
        name=enterprise.name,
        uscc=enterprise.uscc,
        legal_rep_id=legal_rep.id,
        actor=f"person:{legal_rep.id}",
    )
