"""Face provider and 网证 assertions: the simulated provider signs over HTTP; the test also acts
as a provider with its own SM2 key (trust.crypto.private_keys) to forge, tamper and replay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import service
from identity.assertions import ASSERTION_ALG, b64url, signing_input
from identity.assurance import ProofingLevel
from identity.config import IdentityConfig
from identity.errors import AssertionRejected, ChallengeNotFound
from identity.evidence import Outcome
from identity.keying import IdentityKeys
from identity.model import Evidence, FaceChallenge, Person
from identity.sim_data import SimRegistryData
from identity.verifiers import Verifiers
from tests.api._support import TestClient
from tests.integration.identity._factories import make_person
from trust.clock import FixedClock
from trust.crypto import decode_signature
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2, load_sm2_pkcs8

FACE_TYP = "face-assertion+sm2"


def _sign(key: SM2PrivateKey, claims: dict[str, Any], typ: str = FACE_TYP) -> str:
    data = signing_input({"alg": ASSERTION_ALG, "typ": typ}, claims)
    r, s, _ = decode_signature(key.sign(data))
    return f"{data.decode()}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture
def provider_key(sim_data: SimRegistryData) -> SM2PrivateKey:
    return load_sm2_pkcs8(sim_data.face_provider_key.private_key_pkcs8)


def _start_face(
    session: Session, clock: FixedClock, keys: IdentityKeys, verifiers: Verifiers, citizen: Any
) -> tuple[str, FaceChallenge]:
    person = make_person(session, clock, keys, citizen)
    started = service.start_face_verification(
        session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
    )
    session.flush()
    challenge = session.get(FaceChallenge, started.challenge_id)
    assert challenge is not None
    assert started.simulated
    assert started.next_url is not None
    return person.id, challenge


def _claims(challenge: FaceChallenge, clock: FixedClock, **changes: Any) -> dict[str, Any]:
    base = {
        "iss": "sim-face-provider",
        "aud": "http://127.0.0.1:8000",
        "subject_ref": challenge.id,
        "nonce": challenge.nonce,
        "result": "pass",
        "score": 97.0,
        "liveness": True,
        "time": int(clock.now().timestamp()),
    }
    return base | changes


def test_face_round_trip_through_the_simulated_provider(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    sim_client: TestClient,
    citizen: Any,
) -> None:
    person_id, challenge = _start_face(session, clock, keys, verifiers, citizen)
    capture = sim_client.post(
        f"/sim/face/sessions/{challenge.provider_session}/capture",
        json={"presented_face": citizen.face_template, "liveness": True},
    )
    assert capture.status_code == 200
    assert capture.json()["simulated"] is True
    outcome = service.accept_face_assertion(
        session=session, clock=clock, config=config, assertion=capture.json()["assertion"]
    )
    assert outcome.passed
    assert outcome.evidence.reason == "face.match"
    assert outcome.proofing_level is ProofingLevel.P3
    assert session.get(Person, person_id).proofing_level == 3  # type: ignore[union-attr]


def test_someone_elses_face_or_no_liveness_is_a_mismatch(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    provider_key: SM2PrivateKey,
    sim_client: TestClient,
    sim_data: SimRegistryData,
) -> None:
    _pid, challenge = _start_face(session, clock, keys, verifiers, sim_data.citizens[2])
    other = sim_client.post(
        f"/sim/face/sessions/{challenge.provider_session}/capture",
        json={"presented_face": sim_data.citizens[3].face_template},
    ).json()["assertion"]
    outcome = service.accept_face_assertion(
        session=session, clock=clock, config=config, assertion=other
    )
    assert not outcome.passed
    assert outcome.evidence.reason == "face.no_match"
    assert outcome.proofing_level is ProofingLevel.P1
    _pid2, second = _start_face(session, clock, keys, verifiers, sim_data.citizens[4])
    spoof = _sign(provider_key, _claims(second, clock, liveness=False))
    outcome = service.accept_face_assertion(
        session=session, clock=clock, config=config, assertion=spoof
    )
    assert outcome.evidence.outcome is Outcome.MISMATCH
    assert outcome.evidence.reason == "face.liveness_failed"


def _expect(code: str, call: Any) -> None:
    with pytest.raises(AssertionRejected) as caught:
        call()
    assert caught.value.code == code


def test_tampered_wrong_key_replayed_and_stale_assertions_are_refused(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    provider_key: SM2PrivateKey,
    citizen: Any,
) -> None:
    _pid, challenge = _start_face(session, clock, keys, verifiers, citizen)

    def accept(token: str) -> Any:
        return service.accept_face_assertion(
            session=session, clock=clock, config=config, assertion=token
        )

    good = _sign(provider_key, _claims(challenge, clock))
    head, _body, sig = good.split(".")
    forged_body = _sign(provider_key, _claims(challenge, clock, score=100.0)).split(".")[1]
    _expect("identity.assertion_bad_signature", lambda: accept(f"{head}.{forged_body}.{sig}"))
    _expect(
        "identity.assertion_bad_signature",
        lambda: accept(_sign(generate_sm2(), _claims(challenge, clock))),
    )
    none_alg = signing_input({"alg": "none", "typ": FACE_TYP}, _claims(challenge, clock))
    _expect("identity.assertion_malformed", lambda: accept(none_alg.decode() + "."))
    _expect("identity.assertion_bad_alg", lambda: accept(f"{none_alg.decode()}.{sig}"))
    _expect(
        "identity.assertion_bad_type",
        lambda: accept(_sign(provider_key, _claims(challenge, clock), typ="other")),
    )
    _expect(
        "identity.assertion_bad_issuer",
        lambda: accept(_sign(provider_key, _claims(challenge, clock, iss="x"))),
    )
    _expect(
        "identity.assertion_bad_audience",
        lambda: accept(_sign(provider_key, _claims(challenge, clock, aud="x"))),
    )
    old = int((clock.now() - timedelta(minutes=10)).timestamp())
    _expect(
        "identity.assertion_expired",
        lambda: accept(_sign(provider_key, _claims(challenge, clock, time=old))),
    )
    future = int((clock.now() + timedelta(minutes=10)).timestamp())
    _expect(
        "identity.assertion_not_yet_valid",
        lambda: accept(_sign(provider_key, _claims(challenge, clock, time=future))),
    )
    _expect(
        "identity.assertion_bad_nonce",
        lambda: accept(_sign(provider_key, _claims(challenge, clock, nonce="x" * 32))),
    )
    _expect("identity.assertion_malformed", lambda: accept("not-an-assertion"))
    _expect(
        "identity.assertion_malformed",
        lambda: accept(_sign(provider_key, _claims(challenge, clock, score="high"))),
    )
    assert accept(good).passed
    _expect("identity.assertion_replayed", lambda: accept(good))
    assert len(session.scalars(select(Evidence)).all()) == 1


def test_unknown_or_expired_challenge(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    provider_key: SM2PrivateKey,
    citizen: Any,
) -> None:
    _pid, challenge = _start_face(session, clock, keys, verifiers, citizen)
    ghost = _claims(challenge, clock, subject_ref="fch_doesnotexist")
    with pytest.raises(ChallengeNotFound):
        service.accept_face_assertion(
            session=session, clock=clock, config=config, assertion=_sign(provider_key, ghost)
        )
    clock.advance(timedelta(seconds=config.challenge_ttl_seconds + 1))
    late = _sign(provider_key, _claims(challenge, clock))
    _expect(
        "identity.challenge_expired",
        lambda: service.accept_face_assertion(
            session=session, clock=clock, config=config, assertion=late
        ),
    )


def test_network_id_assertion_links_the_network_id_and_gives_p4(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    sim_client: TestClient,
    sim_data: SimRegistryData,
) -> None:
    citizen = sim_data.citizens[6]
    person = make_person(session, clock, keys, citizen)
    started = service.start_network_id_verification(
        session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
    )
    assert started.next_url is not None
    confirmed = sim_client.post(started.next_url.removeprefix("http://127.0.0.1:8000"), json={})
    assert confirmed.status_code == 200
    outcome = service.accept_network_id_assertion(
        session=session,
        clock=clock,
        config=config,
        assertion=confirmed.json()["assertion"],
        expected_person_id=person.id,
    )
    assert outcome.passed
    assert outcome.proofing_level is ProofingLevel.P4
    row = session.get(Person, person.id)
    assert row is not None
    assert row.network_id == citizen.network_id


def test_network_id_held_by_someone_else_is_a_mismatch(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    sim_client: TestClient,
    sim_data: SimRegistryData,
) -> None:
    person = make_person(session, clock, keys, sim_data.citizens[7])
    started = service.start_network_id_verification(
        session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
    )
    assert started.next_url is not None
    confirmed = sim_client.post(
        started.next_url.removeprefix("http://127.0.0.1:8000"),
        json={"holder_id_number": sim_data.citizens[8].id_number, "level": 2},
    )
    outcome = service.accept_network_id_assertion(
        session=session, clock=clock, config=config, assertion=confirmed.json()["assertion"]
    )
    assert not outcome.passed
    assert outcome.evidence.reason == "network_id.holder_mismatch"
    assert session.get(Person, person.id).network_id is None  # type: ignore[union-attr]


def test_face_assertion_signed_by_the_netid_key_is_refused(
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    sim_data: SimRegistryData,
    citizen: Any,
) -> None:
    _pid, challenge = _start_face(session, clock, keys, verifiers, citizen)
    netid_key = load_sm2_pkcs8(sim_data.network_id_key.private_key_pkcs8)
    _expect(
        "identity.assertion_bad_signature",
        lambda: service.accept_face_assertion(
            session=session,
            clock=clock,
            config=config,
            assertion=_sign(netid_key, _claims(challenge, clock)),
        ),
    )
