"""No citizen ID number, password, one-time code or card number in the transparency log, the
security events, the evidence rows or the Python log output, after a full run of every flow."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity import service
from identity.config import IdentityConfig
from identity.keying import IdentityKeys
from identity.model import Evidence, FaceChallenge, SecurityEvent, SmsOutbox
from identity.sim_data import SimRegistryData
from identity.sms import OutboxSender
from identity.totp import totp
from identity.verifiers import Verifiers
from tests.api._support import TestClient
from tests.integration.identity._factories import PASSWORD, make_organisation, make_person
from trust.clock import FixedClock
from trust.tlog.model import TlogEntry


def _code(s: Session) -> str:
    row = s.scalars(select(SmsOutbox).order_by(SmsOutbox.created_at.desc())).first()
    assert row is not None
    return re.search(r"(\d{6})", row.body).group(1)  # type: ignore[union-attr]


def test_secrets_and_id_numbers_appear_nowhere(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    config: IdentityConfig,
    sim_client: TestClient,
    sim_data: SimRegistryData,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    card = sim_data.bank_cards[0]
    c = sim_data.citizen(card.id_number)
    agent_c = sim_data.citizens[1]
    assert c is not None
    secrets_seen: set[str] = {PASSWORD, card.card_number, c.id_number, agent_c.id_number}
    with db() as s, s.begin():
        p = make_person(s, clock, keys, c)
        agent = make_person(s, clock, keys, agent_c)
        common: dict[str, Any] = {"session": s, "clock": clock, "keys": keys}
        service.verify_population(**common, verifiers=verifiers, person_id=p.id)
        service.verify_bank_card(
            **common, verifiers=verifiers, person_id=p.id, card_number=card.card_number
        )
        sent = service.start_phone_verification(**common, sender=OutboxSender(), person_id=p.id)
        code = _code(s)
        secrets_seen.add(code)
        service.complete_phone_verification(
            **common, person_id=p.id, challenge_id=sent.challenge_id, code=code
        )
        started = service.start_face_verification(**common, verifiers=verifiers, person_id=p.id)
        s.flush()
        challenge = s.get(FaceChallenge, started.challenge_id)
        assert challenge is not None
        assertion = sim_client.post(
            f"/sim/face/sessions/{challenge.provider_session}/capture",
            json={"presented_face": c.face_template},
        ).json()["assertion"]
        service.accept_face_assertion(session=s, clock=clock, config=config, assertion=assertion)
        enrolment = service.enrol_totp(**common, person_id=p.id)
        secrets_seen.add(enrolment.secret_base32)
        first = totp(_b32(enrolment.secret_base32), clock.now())
        secrets_seen.add(first)
        assert service.confirm_totp(**common, person_id=p.id, code=first)
        for login in (c.id_number, c.phone, c.id_number):
            service.authenticate_password(
                **common, login=login, password="Wrong-" + PASSWORD, client_ip="192.0.2.1"
            )
        service.authenticate_password(
            **common, login=c.id_number, password=PASSWORD, client_ip="192.0.2.1"
        )
        org = make_organisation(s, clock, sim_data.enterprises[3], p)
        grant = service.grant_agent(
            session=s,
            clock=clock,
            legal_person_id=org.id,
            granted_by=p.id,
            agent_id=agent.id,
            scopes=["seal:use"],
            not_after=clock.now() + timedelta(days=7),
        )
        service.revoke_agent(
            session=s,
            clock=clock,
            legal_person_id=org.id,
            authorisation_id=grant.id,
            revoked_by=p.id,
        )
    secrets_seen.add("Wrong-" + PASSWORD)
    with db() as s:
        haystacks = [e.data.decode("utf-8") for e in s.scalars(select(TlogEntry))]
        haystacks += [repr(e.__dict__) for e in s.scalars(select(SecurityEvent))]
        haystacks += [
            repr(e.details) + e.reason + e.request_ref for e in s.scalars(select(Evidence))
        ]
        kinds = {e.kind for e in s.scalars(select(SecurityEvent))}
    haystacks += [r.getMessage() for r in caplog.records]
    assert {"login.failed", "login.succeeded", "agent.granted", "verification.performed"} <= kinds
    assert len(haystacks) > 20
    for secret in secrets_seen:
        for text in haystacks:
            assert secret not in text, f"a secret leaked into: {text[:120]}"
    # and the ID number in any case, with or without the check character
    for text in haystacks:
        assert c.id_number[:17] not in text


def _b32(text: str) -> bytes:
    import base64

    return base64.b32decode(text + "=" * (-len(text) % 8))
