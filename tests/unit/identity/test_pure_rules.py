"""Proofing levels from evidence, agent scopes, lockout maths, configuration rules, the interim
session cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.assurance import ProofingLevel
from identity.config import load_identity_config
from identity.evidence import EvidenceKind, Outcome
from identity.keying import IdentityKeys
from identity.proofing import EvidenceFact, derive_proofing_level
from identity.scopes import AGENT_SCOPES, normalise_scopes
from identity.sim_data import load_sim_registry
from identity.throttle import Lockout, lockout_seconds
from identity.web_session import issue_person_session, read_person_session
from trust.config import load_settings
from trust.crypto.private_keys import generate_sm2
from trust.errors import InvalidInput, Misconfigured


def _fact(kind: EvidenceKind, outcome: Outcome = Outcome.MATCH, **details: object) -> EvidenceFact:
    return EvidenceFact(f"evd_{kind.value}", kind, outcome, dict(details))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "level"),
    [
        ([], ProofingLevel.P1),
        ([_fact(EvidenceKind.PHONE_OTP)], ProofingLevel.P1),
        ([_fact(EvidenceKind.POPULATION)], ProofingLevel.P2),
        ([_fact(EvidenceKind.POPULATION, Outcome.MISMATCH)], ProofingLevel.P1),
        ([_fact(EvidenceKind.ENTERPRISE)], ProofingLevel.P2),
        ([_fact(EvidenceKind.BANK_CARD)], ProofingLevel.P3),
        ([_fact(EvidenceKind.FACE, score=95.0, liveness=True)], ProofingLevel.P3),
        ([_fact(EvidenceKind.FACE, score=95.0, liveness=False)], ProofingLevel.P1),
        ([_fact(EvidenceKind.FACE, score=60.0, liveness=True)], ProofingLevel.P1),
        ([_fact(EvidenceKind.NETWORK_ID, level=1)], ProofingLevel.P2),
        ([_fact(EvidenceKind.NETWORK_ID, level=2)], ProofingLevel.P3),
        ([_fact(EvidenceKind.NETWORK_ID, level=3)], ProofingLevel.P4),
        ([_fact(EvidenceKind.NETWORK_ID, level=True)], ProofingLevel.P1),
        ([_fact(EvidenceKind.IN_PERSON)], ProofingLevel.P4),
        ([_fact(EvidenceKind.CERTIFICATE)], ProofingLevel.P4),
        (
            [_fact(EvidenceKind.BANK_CARD), _fact(EvidenceKind.POPULATION, Outcome.MISMATCH)],
            ProofingLevel.P3,
        ),
    ],
)
def test_proofing_level(facts: list[EvidenceFact], level: ProofingLevel) -> None:
    outcome = derive_proofing_level(facts)
    assert outcome.level is level
    assert (outcome.basis is None) == (level is ProofingLevel.P1)


def test_scopes() -> None:
    assert normalise_scopes(["seal:use", " licence:view ", "seal:use"]) == (
        "licence:view",
        "seal:use",
    )
    assert {"licence:apply", "licence:view", "seal:use"} <= set(AGENT_SCOPES)
    for bad in ([], ["seal:*"], "seal:use"):
        with pytest.raises(InvalidInput):
            normalise_scopes(bad)  # type: ignore[arg-type]


def test_lockout_is_exponential_and_capped() -> None:
    policy = Lockout(threshold=5, base_seconds=30, max_seconds=3600)
    assert [lockout_seconds(n, policy) for n in range(4, 10)] == [0, 30, 60, 120, 240, 480]
    assert lockout_seconds(100, policy) == 3600


def test_config_defaults_point_at_the_simulator_outside_production() -> None:
    settings = load_settings(environ={}, overrides={"environment": "test"})
    config = load_identity_config(settings, environ={"TRUST_IDENTITY_LOCKOUT_THRESHOLD": "7"})
    assert config.population_url == "http://127.0.0.1:8000/sim/population/verify"
    assert config.lockout_threshold == 7
    assert config.simulated_sources_allowed
    assert config.face_public_key.point
    with pytest.raises(Misconfigured):
        load_identity_config(settings, environ={"TRUST_IDENTITY_UNKNOWN": "1"}, overrides={"x": 1})


def test_config_production_rules() -> None:
    settings = load_settings(
        environ={},
        overrides={
            "environment": "production",
            "database_url": "postgresql://u@db/trust",
            "public_base_url": "https://ywtb.example",
        },
    )
    with pytest.raises(Misconfigured):  # nothing configured
        load_identity_config(settings, environ={})
    sim = load_sim_registry()
    real = {
        "population_url": "https://pop.example/v",
        "enterprise_url": "https://ent.example/v",
        "bankcard_url": "https://bank.example/v",
        "face_url": "https://face.example/s",
        "netid_url": "https://netid.example/r",
        "sms_sender": "http",
        "sms_gateway_url": "https://sms.example/send",
        "face_public_key_pem": sim.face_provider_key.public_key_pem,
        "netid_public_key_pem": sim.network_id_key.public_key_pem,
    }
    with pytest.raises(Misconfigured):  # the published simulator keys are refused
        load_identity_config(settings, environ={}, overrides=real)
    with pytest.raises(Misconfigured):  # the dev outbox is refused
        load_identity_config(settings, environ={}, overrides=real | {"sms_sender": "outbox"})
    with pytest.raises(Misconfigured):  # an endpoint at the simulator is refused
        load_identity_config(
            settings, environ={}, overrides=real | {"population_url": "https://x/sim/p"}
        )
    own = {
        "face_public_key_pem": generate_sm2().public_key().to_pem(),
        "netid_public_key_pem": generate_sm2().public_key().to_pem(),
    }
    config = load_identity_config(settings, environ={}, overrides=real | own)
    assert not config.simulated_sources_allowed
    assert config.audience == "https://ywtb.example"


def test_session_cookie() -> None:
    keys = IdentityKeys.derive(bytes(32))
    now = datetime(2026, 11, 22, tzinfo=UTC)
    value = issue_person_session(keys, "psn_abc", now=now)
    assert read_person_session(keys, value, now=now) == "psn_abc"
    assert read_person_session(keys, value, now=now + timedelta(hours=9)) is None
    assert read_person_session(IdentityKeys.derive(bytes([1]) * 32), value, now=now) is None
    forged = value.replace("psn_abc", "psn_abd")
    assert read_person_session(keys, forged, now=now) is None
    assert read_person_session(keys, "garbage", now=now) is None
