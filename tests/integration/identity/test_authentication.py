"""Passwords, lockout (DB-backed, shared by every engine), TOTP and SMS one-time codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from identity import service
from identity.errors import ChallengeNotFound
from identity.keying import IdentityKeys
from identity.model import Person, SecurityEvent, SmsChallenge, SmsOutbox
from identity.service_auth import AuthPolicy, check_sms_code
from identity.sim_data import SimRegistryData
from identity.sms import OutboxSender
from identity.throttle import Lockout
from identity.totp import totp
from tests.integration.identity._factories import PASSWORD, make_person
from trust.clock import FixedClock
from trust.db import make_engine, session_factory
from trust.errors import RateLimited

POLICY = AuthPolicy(
    account=Lockout(threshold=3, base_seconds=30, max_seconds=300),
    ip=Lockout(threshold=100, base_seconds=30, max_seconds=300),
)


@pytest.fixture
def person_id(
    db: sessionmaker[Session], clock: FixedClock, keys: IdentityKeys, sim_data: SimRegistryData
) -> str:
    with db() as s, s.begin():
        return make_person(s, clock, keys, sim_data.citizens[0], username="zhang.xm").id


def _login(
    factory: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    login: str,
    pw: str,
    ip: str = "203.0.113.7",
) -> Any:
    with factory() as s, s.begin():
        return service.authenticate_password(
            session=s, clock=clock, keys=keys, login=login, password=pw, client_ip=ip, policy=POLICY
        )


def test_login_by_phone_username_and_id_number(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    person_id: str,
    sim_data: SimRegistryData,
) -> None:
    c = sim_data.citizens[0]
    for login in (c.phone, "+86 " + c.phone, "zhang.xm", c.id_number, c.id_number.lower()):
        result = _login(db, clock, keys, login, PASSWORD)
        assert result.ok, login
        assert result.person_id == person_id
        assert result.amr == ("pwd",)
        assert result.proofing_level == 1


def test_unknown_and_wrong_are_the_same_answer(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    person_id: str,
    sim_data: SimRegistryData,
) -> None:
    wrong = _login(db, clock, keys, sim_data.citizens[0].phone, "wrong password")
    unknown = _login(db, clock, keys, "13900000000", PASSWORD)
    garbage = _login(db, clock, keys, "!!", PASSWORD)
    for r in (wrong, unknown, garbage):
        assert not r.ok
        assert r.reason == "identity.login_failed"
        assert r.person_id is None


def test_backoff_is_shared_across_engines_and_reset_by_success(
    db: sessionmaker[Session],
    database_url: str,
    engine: Engine,
    clock: FixedClock,
    keys: IdentityKeys,
    person_id: str,
    sim_data: SimRegistryData,
) -> None:
    phone = sim_data.citizens[0].phone
    other_engine = make_engine(database_url, search_path=_search_path(engine))
    other = session_factory(other_engine)
    try:
        assert not _login(db, clock, keys, phone, "bad-1").locked_until
        assert not _login(other, clock, keys, phone, "bad-2").locked_until
        third = _login(db, clock, keys, phone, "bad-3")
        assert third.locked_until == clock.now() + timedelta(seconds=30)
        # the other engine sees the lock: even the right password is refused, unchecked
        locked = _login(other, clock, keys, phone, PASSWORD)
        assert not locked.ok
        assert locked.reason == "identity.locked"
        assert locked.retry_after_seconds == 30
        clock.advance(timedelta(seconds=31))
        fourth = _login(other, clock, keys, phone, "bad-4")  # exponential: 60 s now
        assert fourth.locked_until == clock.now() + timedelta(seconds=60)
        clock.advance(timedelta(seconds=61))
        assert _login(db, clock, keys, phone, PASSWORD).ok
        assert not _login(other, clock, keys, phone, "bad-5").locked_until  # counter was reset
    finally:
        other_engine.dispose()
    with db() as s:
        kinds = [e.kind for e in s.scalars(select(SecurityEvent).order_by(SecurityEvent.at))]
    assert {"login.failed", "login.locked_out", "login.refused_locked", "login.succeeded"} <= set(
        kinds
    )


def _search_path(engine: Engine) -> str | None:
    """The test run's private schema on PostgreSQL (a second engine must see the same tables)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW search_path").scalar()).strip('"')


def test_ip_lockout(
    db: sessionmaker[Session], clock: FixedClock, keys: IdentityKeys, person_id: str
) -> None:
    strict = AuthPolicy(ip=Lockout(threshold=2, base_seconds=30, max_seconds=60))
    with db() as s, s.begin():
        for n in range(2):
            service.authenticate_password(
                session=s,
                clock=clock,
                keys=keys,
                login=f"1390000000{n}",
                password="whatever",
                client_ip="198.51.100.1",
                policy=strict,
            )
    with db() as s, s.begin():
        r = service.authenticate_password(
            session=s,
            clock=clock,
            keys=keys,
            login="13900000009",
            password="whatever",
            client_ip="198.51.100.1",
            policy=strict,
        )
    assert r.reason == "identity.locked"


def test_rehash_on_parameter_change(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    person_id: str,
    sim_data: SimRegistryData,
) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with db() as s, s.begin():
        s.get(Person, person_id).password_hash = weak  # type: ignore[union-attr]
    assert _login(db, clock, keys, sim_data.citizens[0].phone, PASSWORD).ok
    with db() as s:
        stored = s.get(Person, person_id).password_hash  # type: ignore[union-attr]
    assert stored != weak
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$")  # type: ignore[union-attr]


# --- TOTP -------------------------------------------------------------------------------------


def _secret(uri: str) -> bytes:
    import base64

    raw = re.search(r"secret=([A-Z2-7]+)", uri).group(1)  # type: ignore[union-attr]
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def test_totp_enrolment_verification_and_replay(
    db: sessionmaker[Session], clock: FixedClock, keys: IdentityKeys, person_id: str
) -> None:
    with db() as s, s.begin():
        enrolment = service.enrol_totp(session=s, clock=clock, keys=keys, person_id=person_id)
    assert enrolment.otpauth_uri.startswith("otpauth://totp/")
    assert "algorithm=SHA1&digits=6&period=30" in enrolment.otpauth_uri
    secret = _secret(enrolment.otpauth_uri)
    with db() as s, s.begin():
        assert not service.confirm_totp(
            session=s, clock=clock, keys=keys, person_id=person_id, code="000000"
        )
        assert service.confirm_totp(
            session=s, clock=clock, keys=keys, person_id=person_id, code=totp(secret, clock.now())
        )
    clock.advance(timedelta(seconds=30))
    code = totp(secret, clock.now())

    def second(c: str) -> Any:
        with db() as s, s.begin():
            return service.verify_second_factor(
                session=s, clock=clock, keys=keys, person_id=person_id, method="otp", code=c
            )

    first = second(code)
    assert first.ok
    assert first.method == "otp"
    replay = second(code)
    assert not replay.ok
    assert replay.reason == "identity.code_mismatch"
    # one step of leeway either side, but never a step already used
    clock.advance(timedelta(seconds=30))
    assert not second(code).ok
    assert second(totp(secret, clock.now() + timedelta(seconds=30))).ok
    with db() as s:
        assert service.get_person(session=s, person_id=person_id).has_totp


# --- SMS codes ---------------------------------------------------------------------------------


def _code_from_outbox(session: Session) -> str:
    body = session.scalars(select(SmsOutbox).order_by(SmsOutbox.created_at.desc())).first()
    assert body is not None
    return re.search(r"验证码 (\d{6})", body.body).group(1)  # type: ignore[union-attr]


@pytest.fixture
def sms_session(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as s, s.begin():
        yield s


def test_sms_code_attempts_limit(
    sms_session: Session, clock: FixedClock, keys: IdentityKeys, person_id: str
) -> None:
    s = sms_session
    sent = service.send_sms_code(
        session=s,
        clock=clock,
        keys=keys,
        sender=OutboxSender(),
        person_id=person_id,
        purpose="login",
    )
    code = _code_from_outbox(s)
    stored = s.get(SmsChallenge, sent.challenge_id)
    assert stored is not None
    assert code.encode() not in stored.code_mac
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        ok, reason = check_sms_code(
            session=s,
            clock=clock,
            keys=keys,
            person_id=person_id,
            challenge_id=sent.challenge_id,
            code=wrong,
            purpose="login",
        )
        assert (ok, reason) == (False, "identity.code_mismatch")
    ok, reason = check_sms_code(
        session=s,
        clock=clock,
        keys=keys,
        person_id=person_id,
        challenge_id=sent.challenge_id,
        code=code,
        purpose="login",
    )
    assert (ok, reason) == (False, "identity.code_attempts_exhausted")


def test_sms_code_expiry_single_use_and_resend_interval(
    sms_session: Session, clock: FixedClock, keys: IdentityKeys, person_id: str
) -> None:
    s = sms_session

    def send() -> Any:
        return service.send_sms_code(
            session=s,
            clock=clock,
            keys=keys,
            sender=OutboxSender(),
            person_id=person_id,
            purpose="login",
        )

    first = send()
    with pytest.raises(RateLimited) as caught:
        send()
    assert caught.value.code == "identity.sms_too_soon"
    clock.advance(timedelta(minutes=5))
    code = _code_from_outbox(s)
    ok, reason = check_sms_code(
        session=s,
        clock=clock,
        keys=keys,
        person_id=person_id,
        challenge_id=first.challenge_id,
        code=code,
        purpose="login",
    )
    assert (ok, reason) == (False, "identity.code_expired")
    second = send()
    code = _code_from_outbox(s)
    result = service.verify_second_factor(
        session=s,
        clock=clock,
        keys=keys,
        person_id=person_id,
        method="sms",
        code=code,
        challenge_id=second.challenge_id,
    )
    assert result.ok
    assert result.method == "sms"
    again = service.verify_second_factor(
        session=s,
        clock=clock,
        keys=keys,
        person_id=person_id,
        method="sms",
        code=code,
        challenge_id=second.challenge_id,
    )
    assert again.reason == "identity.code_used"
    with pytest.raises(ChallengeNotFound):
        check_sms_code(
            session=s,
            clock=clock,
            keys=keys,
            person_id=person_id,
            challenge_id=second.challenge_id,
            code=code,
            purpose="verify_phone",
        )


def test_phone_verification_marks_the_phone_verified(
    sms_session: Session, clock: FixedClock, keys: IdentityKeys, person_id: str
) -> None:
    s = sms_session
    sent = service.start_phone_verification(
        session=s, clock=clock, keys=keys, sender=OutboxSender(), person_id=person_id
    )
    outcome = service.complete_phone_verification(
        session=s,
        clock=clock,
        keys=keys,
        person_id=person_id,
        challenge_id=sent.challenge_id,
        code=_code_from_outbox(s),
    )
    assert outcome.passed
    assert outcome.proofing_level == 1  # possession of a phone proves no identity
    person = service.get_person(session=s, person_id=person_id)
    assert person.phone_verified
    login = service.authenticate_password(
        session=s, clock=clock, keys=keys, login=person.phone, password=PASSWORD, client_ip=None
    )
    assert login.second_factors == ("sms",)
