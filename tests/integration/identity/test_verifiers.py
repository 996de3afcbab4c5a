"""Each verifier against the simulated registry over HTTP: match, mismatch, unknown, and a
source that is down or answers nonsense (never a pass)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import service
from identity.assurance import ProofingLevel
from identity.config import IdentityConfig
from identity.errors import RegistryBadResponse, RegistryUnavailable
from identity.evidence import Outcome
from identity.keying import IdentityKeys
from identity.model import Evidence
from identity.sim_data import SimRegistryData
from identity.verifiers import Verifiers, build_verifiers
from tests.integration.identity._factories import make_organisation, make_person
from trust.clock import FixedClock
from trust.crypto import sm3


def test_population_match_raises_to_p2_and_stores_evidence(
    session: Session, clock: FixedClock, keys: IdentityKeys, verifiers: Verifiers, citizen: object
) -> None:
    person = make_person(session, clock, keys, citizen)  # type: ignore[arg-type]
    outcome = service.verify_population(
        session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
    )
    assert outcome.passed
    assert outcome.level_raised
    assert outcome.proofing_level is ProofingLevel.P2
    assert outcome.evidence.outcome is Outcome.MATCH
    assert outcome.evidence.source.endswith("/sim/population/verify")
    row = session.scalars(select(Evidence)).one()
    assert row.details["simulated"] is True
    assert len(row.response_digest) == 32
    assert row.request_ref.startswith("vrq_")
    assert row.verified_at == clock.now()


def test_population_mismatch_and_unknown(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    sim_data: SimRegistryData,
) -> None:
    c = sim_data.citizens[1]
    res = verifiers.population.verify(name="冒名顶替", id_number=c.id_number, now=clock.now())
    assert res.outcome is Outcome.MISMATCH
    assert not res.passed
    assert res.reason == "population.mismatch"
    unknown = verifiers.population.verify(
        name=c.name, id_number="11010519491231002X", now=clock.now()
    )
    assert unknown.outcome is Outcome.UNKNOWN
    assert unknown.reason == "population.not_found"


def test_enterprise_verifier_match_mismatch_unknown(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    sim_data: SimRegistryData,
) -> None:
    firm = sim_data.enterprises[0]
    rep = sim_data.citizen(firm.legal_rep_id_number)
    assert rep is not None
    person = make_person(session, clock, keys, rep)
    org = make_organisation(session, clock, firm, person)
    outcome = service.verify_enterprise(
        session=session, clock=clock, keys=keys, verifiers=verifiers, legal_person_id=org.id
    )
    assert outcome.passed
    assert outcome.proofing_level is ProofingLevel.P2
    wrong_rep = verifiers.enterprise.verify(
        uscc=firm.uscc,
        name=firm.name,
        legal_rep_name=sim_data.citizens[5].name,
        legal_rep_id_number=sim_data.citizens[5].id_number,
        now=clock.now(),
    )
    assert wrong_rep.outcome is Outcome.MISMATCH
    unknown = verifiers.enterprise.verify(
        uscc="91350100M000100Y43",
        name="不存在公司",
        legal_rep_name=rep.name,
        legal_rep_id_number=rep.id_number,
        now=clock.now(),
    )
    assert unknown.outcome is Outcome.UNKNOWN


def test_bank_card_four_elements(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    sim_data: SimRegistryData,
) -> None:
    card = sim_data.bank_cards[0]
    owner = sim_data.citizen(card.id_number)
    assert owner is not None
    person = make_person(session, clock, keys, owner)
    outcome = service.verify_bank_card(
        session=session,
        clock=clock,
        keys=keys,
        verifiers=verifiers,
        person_id=person.id,
        card_number=card.card_number,
    )
    assert outcome.passed
    assert outcome.proofing_level is ProofingLevel.P3
    row = session.get(Evidence, outcome.evidence.id)
    assert row is not None
    assert row.details["card_last4"] == card.card_number[-4:]
    assert card.card_number not in str(row.details)
    other = sim_data.bank_cards[1]
    mismatch = verifiers.bank_card.verify(
        name=owner.name,
        id_number=owner.id_number,
        card_number=other.card_number,
        phone=owner.phone,
        now=clock.now(),
    )
    assert mismatch.outcome is Outcome.MISMATCH
    unknown = verifiers.bank_card.verify(
        name=owner.name,
        id_number=owner.id_number,
        card_number="6222020000000000000",
        phone=owner.phone,
        now=clock.now(),
    )
    assert unknown.outcome is Outcome.UNKNOWN


def test_bad_card_number_refused_before_any_call(
    session: Session, clock: FixedClock, keys: IdentityKeys, verifiers: Verifiers, citizen: object
) -> None:
    person = make_person(session, clock, keys, citizen)  # type: ignore[arg-type]
    with pytest.raises(Exception) as caught:
        service.verify_bank_card(
            session=session,
            clock=clock,
            keys=keys,
            verifiers=verifiers,
            person_id=person.id,
            card_number="6222020000000000001",  # Luhn fails
        )
    assert getattr(caught.value, "code", None) == "identity.bad_card_number"


def test_registry_down_is_unavailable_and_stores_nothing(
    session: Session, clock: FixedClock, keys: IdentityKeys, config: IdentityConfig, citizen: object
) -> None:
    person = make_person(session, clock, keys, citizen)  # type: ignore[arg-type]
    down = config.model_copy(update={"population_url": "http://127.0.0.1:9/population/verify"})
    with httpx.Client(timeout=2.0) as client:
        verifiers = build_verifiers(down, client)
        with pytest.raises(RegistryUnavailable) as caught:
            service.verify_population(
                session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
            )
    assert caught.value.code == "identity.registry_unavailable"
    assert caught.value.http_status == 503
    assert session.scalars(select(Evidence)).first() is None
    assert service.get_person(session=session, person_id=person.id).proofing_level == 1


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (503, b'{"result":"match"}', RegistryUnavailable),
        (500, b"oops", RegistryUnavailable),
        (429, b"{}", RegistryUnavailable),
        (400, b'{"result":"match"}', RegistryBadResponse),
        (200, b"<html>match</html>", RegistryBadResponse),
        (200, b'{"result":"MATCH"}', RegistryBadResponse),
        (200, b'{"result":true}', RegistryBadResponse),
        (200, b"[]", RegistryBadResponse),
    ],
)
def test_failures_and_nonsense_never_pass(
    config: IdentityConfig, clock: FixedClock, status: int, body: bytes, error: type[Exception]
) -> None:
    transport = httpx.MockTransport(lambda _request: httpx.Response(status, content=body))
    with httpx.Client(transport=transport) as client:
        verifiers = build_verifiers(config, client)
        with pytest.raises(error):
            verifiers.population.verify(
                name="张三", id_number="11010519491231002X", now=clock.now()
            )


def test_timeout_is_unavailable(config: IdentityConfig, clock: FixedClock) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(slow))
    with client, pytest.raises(RegistryUnavailable):
        build_verifiers(config, client).bank_card.verify(
            name="a", id_number="b", card_number="c", phone="d", now=clock.now()
        )


def test_simulated_answers_refused_in_production(
    config: IdentityConfig, clock: FixedClock, sim_data: SimRegistryData
) -> None:
    c = sim_data.citizens[0]
    answer = b'{"result":"match","simulated":true}'
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=answer))
    prod_like = config.model_copy(update={"environment": "production"})
    client = httpx.Client(transport=transport)
    with client, pytest.raises(RegistryBadResponse) as caught:
        build_verifiers(prod_like, client).population.verify(
            name=c.name, id_number=c.id_number, now=clock.now()
        )
    assert caught.value.code == "identity.simulated_source_refused"


def test_response_digest_is_sm3_of_the_exact_bytes(
    config: IdentityConfig, clock: FixedClock
) -> None:
    answer = b'{"result": "mismatch", "registry_ref": "r-1"}'
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=answer))
    with httpx.Client(transport=transport) as client:
        res = build_verifiers(config, client).population.verify(
            name="张三", id_number="11010519491231002X", now=clock.now()
        )
    assert res.response_digest == sm3(answer)
    assert res.details == {"simulated": False, "registry_ref": "r-1"}
