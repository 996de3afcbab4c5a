"""Real-name verification with evidence (``specs/identity.md`` §8).

Each performed verification - match, mismatch or unknown - is stored as evidence (kind, source
endpoint, request reference, outcome, time, SM3 digest of the response), appended to the
transparency log in the same transaction (``identity.verification_recorded``: identifiers,
outcome and digest; never the ID number or card number) and recorded as a security event; the
subject's proofing level is then re-derived from all of its evidence (``identity.proofing``).

A source that cannot be reached raises ``RegistryUnavailable`` and stores nothing: an outage is
never a pass and never a mismatch.

Face and 网证 verifications are two-step: ``start_*`` creates a challenge with a fresh nonce
and tells the upstream party; the party's SM2-signed assertion then comes back to
``accept_*_assertion``, which checks signature, issuer, audience, time, that the nonce is the
challenge's, and that neither challenge nor nonce was used before (replay).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.assertions import VerifiedAssertion, verify_assertion
from identity.assurance import ProofingLevel
from identity.config import IdentityConfig
from identity.errors import AssertionRejected, ChallengeNotFound
from identity.evidence import EvidenceKind, Outcome, VerificationResult
from identity.keying import IdentityKeys
from identity.model import Evidence, FaceChallenge, NetworkIdChallenge, Person, SeenNonce
from identity.pii import mask_phone
from identity.proofing import FACE_SCORE_THRESHOLD
from identity.records import EvidenceRecord, SmsCodeSent, UpstreamStarted, VerificationOutcome
from identity.service_accounts import id_number_of
from identity.service_auth import check_sms_code, send_sms_code
from identity.sms import SmsSender
from identity.verifiers import Verifiers
from trust.clock import Clock
from trust.crypto import constant_time_equal, sm3
from trust.errors import InvalidInput, PermissionDenied
from trust.ids import new_id

__all__ = [
    "FACE_ASSERTION_TYP",
    "NETWORK_ID_ASSERTION_TYP",
    "accept_face_assertion",
    "accept_network_id_assertion",
    "complete_phone_verification",
    "list_evidence",
    "start_face_verification",
    "start_network_id_verification",
    "start_phone_verification",
    "verify_bank_card",
    "verify_enterprise",
    "verify_population",
]

_C = TypeVar("_C", FaceChallenge, NetworkIdChallenge)
FACE_ASSERTION_TYP: Final = "face-assertion+sm2"
NETWORK_ID_ASSERTION_TYP: Final = "netid-assertion+sm2"


def _store(
    session: Session,
    clock: Clock,
    result: VerificationResult,
    *,
    subject_kind: str,
    subject_id: str,
    actor: str,
) -> VerificationOutcome:
    before = _level(session, subject_kind, subject_id)
    row = Evidence(
        id=new_id("evd"),
        subject_kind=subject_kind,
        subject_id=subject_id,
        kind=result.kind.value,
        outcome=result.outcome.value,
        reason=result.reason[:64],
        source=result.source[:300],
        request_ref=result.request_ref[:64],
        response_digest=result.response_digest,
        verified_at=result.checked_at,
        details=dict(result.details),
    )
    session.add(row)
    session.flush()
    after = sh.recompute_proofing(session, subject_kind, subject_id)
    sh.log(
        session,
        clock,
        "verification_recorded",
        subject_id,
        actor,
        evidence=row.id,
        evidence_kind=row.kind,
        outcome=row.outcome,
        reason=row.reason,
        source=row.source,
        request_ref=row.request_ref,
        response_sm3=row.response_digest.hex(),
        proofing_level=int(after),
    )
    person_id = subject_id if subject_kind == "person" else None
    legal_id = subject_id if subject_kind == "legal_person" else None
    sh.security_event(
        session,
        clock,
        "verification.performed",
        person_id=person_id,
        legal_person_id=legal_id,
        detail={
            "kind": row.kind,
            "outcome": row.outcome,
            "reason": row.reason,
            "evidence_id": row.id,
            "proofing_level": int(after),
        },
    )
    return VerificationOutcome(sh.evidence_record(row), result.passed, after, after > before)


def _level(session: Session, subject_kind: str, subject_id: str) -> ProofingLevel:
    if subject_kind == "person":
        return ProofingLevel(sh.person_row(session, subject_id).proofing_level)
    return ProofingLevel(sh.legal_person_row(session, subject_id).proofing_level)


def _actor(actor: str | None, person_id: str) -> str:
    return actor or f"person:{person_id}"


# --- registry checks ---------------------------------------------------------------------------


def verify_population(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    person_id: str,
    actor: str | None = None,
) -> VerificationOutcome:
    """Name + citizen ID number of the account against the population registry (P2)."""
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    result = verifiers.population.verify(
        name=row.name, id_number=id_number_of(row, keys), now=clock.now()
    )
    return _store(
        session,
        clock,
        result,
        subject_kind="person",
        subject_id=row.id,
        actor=_actor(actor, row.id),
    )


def verify_enterprise(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    legal_person_id: str,
    actor: str | None = None,
) -> VerificationOutcome:
    """Name + USCC + legal representative (name and ID number) against the enterprise
    registry (P2 for the legal person)."""
    legal = sh.legal_person_row(session, sh.check_id(legal_person_id, "lp"))
    rep = sh.person_row(session, legal.legal_rep_id)
    result = verifiers.enterprise.verify(
        uscc=legal.uscc,
        name=legal.name,
        legal_rep_name=rep.name,
        legal_rep_id_number=id_number_of(rep, keys),
        now=clock.now(),
    )
    return _store(
        session,
        clock,
        result,
        subject_kind="legal_person",
        subject_id=legal.id,
        actor=actor or f"person:{rep.id}",
    )


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def verify_bank_card(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    verifiers: Verifiers,
    person_id: str,
    card_number: str,
    actor: str | None = None,
) -> VerificationOutcome:
    """Bank-card four elements: name, ID number, card number, the account's phone (P3).
    The card number is sent to the source and kept nowhere (evidence holds its last 4 digits)."""
    number = "".join(str(card_number).split())
    if not (12 <= len(number) <= 19 and number.isdigit() and _luhn_ok(number)):
        raise InvalidInput("银行卡号格式不正确", code="identity.bad_card_number")
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    result = verifiers.bank_card.verify(
        name=row.name,
        id_number=id_number_of(row, keys),
        card_number=number,
        phone=row.phone,
        now=clock.now(),
    )
    details = dict(result.details) | {"card_last4": number[-4:]}
    result = VerificationResult(
        result.kind,
        result.outcome,
        result.reason,
        result.source,
        result.request_ref,
        result.response_digest,
        result.checked_at,
        details,
    )
    return _store(
        session,
        clock,
        result,
        subject_kind="person",
        subject_id=row.id,
        actor=_actor(actor, row.id),
    )


# --- phone ----------------------------------------------------------------------------------------


def start_phone_verification(
    *, session: Session, clock: Clock, keys: IdentityKeys, sender: SmsSender, person_id: str
) -> SmsCodeSent:
    return send_sms_code(
        session=session,
        clock=clock,
        keys=keys,
        sender=sender,
        person_id=person_id,
        purpose="verify_phone",
    )


def complete_phone_verification(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    person_id: str,
    challenge_id: str,
    code: str,
) -> VerificationOutcome:
    """Check the SMS code; evidence ``phone_otp`` either way; marks the phone verified."""
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    ok, reason = check_sms_code(
        session=session,
        clock=clock,
        keys=keys,
        person_id=row.id,
        challenge_id=challenge_id,
        code=code,
        purpose="verify_phone",
    )
    now = clock.now()
    if ok:
        row.phone_verified_at = now
    result = VerificationResult(
        kind=EvidenceKind.PHONE_OTP,
        outcome=Outcome.MATCH if ok else Outcome.MISMATCH,
        reason=f"phone_otp.{reason.removeprefix('identity.')}",
        source="sms",
        request_ref=challenge_id,
        response_digest=sm3(f"{challenge_id}|{ok}".encode()),
        checked_at=now,
        details={"phone_masked": mask_phone(row.phone)},
    )
    return _store(
        session, clock, result, subject_kind="person", subject_id=row.id, actor=f"person:{row.id}"
    )


# --- face and 网证: start, then a signed assertion comes back ------------------------------------


def _nonce() -> str:
    return secrets.token_urlsafe(24)


def start_face_verification(
    *, session: Session, clock: Clock, keys: IdentityKeys, verifiers: Verifiers, person_id: str
) -> UpstreamStarted:
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    now = clock.now()
    challenge = FaceChallenge(
        id=new_id("fch"),
        person_id=row.id,
        nonce=_nonce(),
        created_at=now,
        expires_at=now + timedelta(seconds=verifiers.config.challenge_ttl_seconds),
    )
    upstream = verifiers.face.start(
        subject_ref=challenge.id,
        nonce=challenge.nonce,
        name=row.name,
        id_number=id_number_of(row, keys),
        audience=verifiers.config.audience,
    )
    challenge.provider_session = upstream.upstream_ref
    session.add(challenge)
    sh.security_event(
        session,
        clock,
        "verification.started",
        person_id=row.id,
        detail={"kind": EvidenceKind.FACE.value},
    )
    return UpstreamStarted(
        challenge.id, upstream.next_url, challenge.expires_at, upstream.simulated
    )


def start_network_id_verification(
    *, session: Session, clock: Clock, keys: IdentityKeys, verifiers: Verifiers, person_id: str
) -> UpstreamStarted:
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    now = clock.now()
    challenge = NetworkIdChallenge(
        id=new_id("nch"),
        person_id=row.id,
        nonce=_nonce(),
        created_at=now,
        expires_at=now + timedelta(seconds=verifiers.config.challenge_ttl_seconds),
    )
    upstream = verifiers.network_id.start(
        subject_ref=challenge.id,
        nonce=challenge.nonce,
        name=row.name,
        id_number=id_number_of(row, keys),
        audience=verifiers.config.audience,
    )
    session.add(challenge)
    sh.security_event(
        session,
        clock,
        "verification.started",
        person_id=row.id,
        detail={"kind": EvidenceKind.NETWORK_ID.value},
    )
    return UpstreamStarted(
        challenge.id, upstream.next_url, challenge.expires_at, upstream.simulated
    )


def _verified(
    token: str, *, config: IdentityConfig, clock: Clock, typ: str, face: bool
) -> VerifiedAssertion:
    return verify_assertion(
        token,
        public_key=config.face_public_key if face else config.netid_public_key,
        expected_typ=typ,
        expected_issuer=config.face_issuer if face else config.netid_issuer,
        expected_audience=config.audience,
        now=clock.now(),
        max_age=timedelta(seconds=config.assertion_max_age_seconds),
        skew=timedelta(seconds=config.clock_skew_seconds),
    )


def _claim_challenge(
    session: Session,
    clock: Clock,
    model: type[_C],
    claims: Any,
    issuer: str,
) -> _C:
    """The challenge the assertion answers, locked; nonce matched and burnt (replay check)."""
    ref = claims.get("subject_ref")
    if not isinstance(ref, str) or len(ref) > 40:
        raise AssertionRejected("断言缺少主体引用", code="identity.assertion_malformed")
    challenge = session.scalars(
        select(model).where(model.id == ref).with_for_update()
    ).one_or_none()
    if challenge is None:
        raise ChallengeNotFound("验证请求不存在或已失效")
    if not constant_time_equal(str(claims.get("nonce")), challenge.nonce):
        raise AssertionRejected("断言随机数不符", code="identity.assertion_bad_nonce")
    if challenge.completed_at is not None:
        raise AssertionRejected("断言已被使用", code="identity.assertion_replayed")
    if clock.now() >= challenge.expires_at:
        raise AssertionRejected("验证请求已过期", code="identity.challenge_expired")
    session.add(SeenNonce(issuer=issuer, nonce=challenge.nonce, seen_at=clock.now()))
    try:
        session.flush()
    except IntegrityError:
        raise AssertionRejected("断言已被使用", code="identity.assertion_replayed") from None
    challenge.completed_at = clock.now()
    return challenge


def accept_face_assertion(
    *, session: Session, clock: Clock, config: IdentityConfig, assertion: str
) -> VerificationOutcome:
    """The face provider's SM2-signed assertion (claims ``subject_ref``, ``result``
    ``pass|fail``, ``score`` 0-100, ``liveness``, ``time``, ``nonce``, ``iss``, ``aud``).
    Refused with ``AssertionRejected`` (tampered, wrong key, expired, replayed…)."""
    verified = _verified(assertion, config=config, clock=clock, typ=FACE_ASSERTION_TYP, face=True)
    claims = verified.claims
    result, score, live = claims.get("result"), claims.get("score"), claims.get("liveness")
    if (
        result not in ("pass", "fail")
        or not isinstance(live, bool)
        or isinstance(score, bool)
        or not isinstance(score, int | float)
        or not 0 <= score <= 100
    ):
        raise AssertionRejected("人脸核验断言字段不完整", code="identity.assertion_malformed")
    challenge = _claim_challenge(session, clock, FaceChallenge, claims, config.face_issuer)
    if not live:
        outcome, reason = Outcome.MISMATCH, "face.liveness_failed"
    elif result != "pass":
        outcome, reason = Outcome.MISMATCH, "face.no_match"
    elif score < FACE_SCORE_THRESHOLD:
        outcome, reason = Outcome.MISMATCH, "face.low_score"
    else:
        outcome, reason = Outcome.MATCH, "face.match"
    evidence = VerificationResult(
        kind=EvidenceKind.FACE,
        outcome=outcome,
        reason=reason,
        source=config.face_issuer,
        request_ref=challenge.id,
        response_digest=sm3(verified.signed_bytes),
        checked_at=clock.now(),
        details={"score": float(score), "liveness": live, "asserted_at": int(claims["time"])},
    )
    return _store(
        session,
        clock,
        evidence,
        subject_kind="person",
        subject_id=challenge.person_id,
        actor=f"provider:{config.face_issuer}",
    )


def accept_network_id_assertion(
    *,
    session: Session,
    clock: Clock,
    config: IdentityConfig,
    assertion: str,
    expected_person_id: str | None = None,
) -> VerificationOutcome:
    """The national network identity service's SM2-signed assertion (claims ``subject_ref``,
    ``network_id`` (网号), ``level`` 1-3, ``match`` (the credential holder is the person whose
    name and ID number we submitted), ``time``, ``nonce``, ``iss``, ``aud``). On a match the
    网号 is linked to the account (one account per 网号)."""
    verified = _verified(
        assertion, config=config, clock=clock, typ=NETWORK_ID_ASSERTION_TYP, face=False
    )
    claims = verified.claims
    netid, level, match = claims.get("network_id"), claims.get("level"), claims.get("match")
    if (
        not isinstance(netid, str)
        or not 4 <= len(netid) <= 64
        or not netid.isalnum()
        or not isinstance(level, int)
        or isinstance(level, bool)
        or not isinstance(match, bool)
    ):
        raise AssertionRejected("网证断言字段不完整", code="identity.assertion_malformed")
    challenge = _claim_challenge(session, clock, NetworkIdChallenge, claims, config.netid_issuer)
    if expected_person_id is not None and challenge.person_id != expected_person_id:
        raise PermissionDenied("断言不属于本人的核验请求", code="identity.not_your_account")
    person = sh.person_row(session, challenge.person_id)
    holder = session.scalar(select(Person.id).where(Person.network_id == netid))
    if not match:
        outcome, reason = Outcome.MISMATCH, "network_id.holder_mismatch"
    elif holder is not None and holder != person.id:
        outcome, reason = Outcome.MISMATCH, "network_id.linked_elsewhere"
    else:
        outcome, reason = Outcome.MATCH, "network_id.match"
        person.network_id = netid
    evidence = VerificationResult(
        kind=EvidenceKind.NETWORK_ID,
        outcome=outcome,
        reason=reason,
        source=config.netid_issuer,
        request_ref=challenge.id,
        response_digest=sm3(verified.signed_bytes),
        checked_at=clock.now(),
        details={"level": level, "asserted_at": int(claims["time"])},
    )
    return _store(
        session,
        clock,
        evidence,
        subject_kind="person",
        subject_id=person.id,
        actor=f"provider:{config.netid_issuer}",
    )


def list_evidence(*, session: Session, subject_kind: str, subject_id: str) -> list[EvidenceRecord]:
    rows = session.scalars(
        select(Evidence)
        .where(Evidence.subject_kind == subject_kind, Evidence.subject_id == subject_id)
        .order_by(Evidence.verified_at, Evidence.id)
    )
    return [sh.evidence_record(r) for r in rows]
