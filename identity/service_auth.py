"""Authentication of natural persons: password (Argon2id), TOTP (RFC 6238), SMS one-time codes,
with database-backed backoff against guessing (``identity.throttle``) and security events.

Failures are *results*, not exceptions: the caller commits the transaction (so the failure count
and the security event are kept) and then answers 401 / 429. Security events never carry a
password, a code or a citizen ID number.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity import throttle
from identity.assurance import ProofingLevel
from identity.config import IdentityConfig
from identity.errors import ChallengeNotFound
from identity.keying import IdentityKeys
from identity.model import Person, SmsChallenge, TotpCredential
from identity.onetime import SMS_CODE_MAX_ATTEMPTS, SMS_CODE_TTL, code_mac, code_matches, new_code
from identity.passwords import hash_password, verify_password
from identity.pii import mask_phone
from identity.records import AuthenticationResult, SecondFactorResult, SmsCodeSent, TotpEnrolment
from identity.service_accounts import find_person_by_login
from identity.sms import SmsSender
from identity.totp import TotpParameters, new_totp_secret, provisioning_uri, verify_totp
from trust.clock import Clock
from trust.crypto import sm4_gcm_decrypt, sm4_gcm_encrypt
from trust.errors import InvalidInput, RateLimited
from trust.ids import new_id

__all__ = [
    "AuthPolicy",
    "authenticate_password",
    "confirm_totp",
    "enrol_totp",
    "send_sms_code",
    "verify_second_factor",
]

#: A new SMS code for the same person and purpose is refused within this interval.
SMS_RESEND_INTERVAL: Final = timedelta(seconds=60)
_TOTP_AAD: Final = b"ywtb-trust/identity/totp/v1|"
SmsPurpose = Literal["verify_phone", "login"]
_ACCOUNT_LOCKOUT: Final = throttle.Lockout(threshold=5, base_seconds=30, max_seconds=3600)
_IP_LOCKOUT: Final = throttle.Lockout(threshold=50, base_seconds=30, max_seconds=3600)


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Lockout and TOTP parameters (from ``IdentityConfig``; defaults shown)."""

    account: throttle.Lockout = _ACCOUNT_LOCKOUT
    ip: throttle.Lockout = _IP_LOCKOUT
    totp_leeway_steps: int = 1
    totp_issuer: str = "一网通办"

    @classmethod
    def from_config(cls, config: IdentityConfig) -> AuthPolicy:
        return cls(
            account=throttle.Lockout(
                config.lockout_threshold, config.lockout_base_seconds, config.lockout_max_seconds
            ),
            ip=throttle.Lockout(
                config.ip_lockout_threshold,
                config.lockout_base_seconds,
                config.lockout_max_seconds,
            ),
            totp_leeway_steps=config.totp_leeway_steps,
            totp_issuer=config.totp_issuer,
        )


_DEFAULT_POLICY: Final = AuthPolicy()


def _retry(until: datetime | None, now: datetime) -> int:
    return max(1, int((until - now).total_seconds())) if until is not None else 0


def _second_factors(session: Session, row: Person) -> tuple[str, ...]:
    factors = []
    totp = session.get(TotpCredential, row.id)
    if totp is not None and totp.confirmed_at is not None:
        factors.append("otp")
    if row.phone_verified_at is not None:
        factors.append("sms")
    return tuple(factors)


def _locked(
    session: Session, clock: Clock, keys_: list[str], person_id: str | None, ip: str | None
) -> AuthenticationResult | None:
    now = clock.now()
    for key in keys_:
        current = throttle.state(session, key, now)
        if current.locked_at(now):
            sh.security_event(
                session,
                clock,
                "login.refused_locked",
                person_id=person_id,
                client_ip=ip,
                detail={
                    "reason": "identity.locked",
                    "locked_until": current.locked_until.isoformat()
                    if current.locked_until
                    else None,
                },
            )
            return AuthenticationResult(
                ok=False,
                reason="identity.locked",
                person_id=None,
                amr=(),
                second_factors=(),
                proofing_level=None,
                locked_until=current.locked_until,
                retry_after_seconds=_retry(current.locked_until, now),
            )
    return None


def authenticate_password(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    login: str,
    password: str,
    client_ip: str | None,
    policy: AuthPolicy = _DEFAULT_POLICY,
) -> AuthenticationResult:
    """First factor. ``login`` is a phone number, a username or a citizen ID number (found by
    its keyed hash). Unknown login and wrong password give the same result and cost the same
    Argon2id work. Locked keys are refused before the password is checked."""
    ip_key = f"ip:{client_ip}" if client_ip else None
    try:
        login_kind, row = find_person_by_login(session=session, keys=keys, login=login)
    except InvalidInput:
        login_kind, row = "username", None
    acct_key = f"acct:{row.id}" if row is not None else None
    keys_ = [k for k in (acct_key, ip_key) if k]
    locked = _locked(session, clock, keys_, row.id if row else None, client_ip)
    if locked is not None:
        verify_password(password, None)  # same work as any other attempt
        return locked
    usable = row is not None and row.status == "active"
    check = verify_password(password, row.password_hash if usable and row else None)
    now = clock.now()
    if not check.ok or row is None:
        return _failure(session, clock, row, keys_, login_kind, client_ip, policy)
    throttle.reset(session, f"acct:{row.id}", now)
    if check.needs_rehash:
        row.password_hash = hash_password(password)
    sh.security_event(
        session,
        clock,
        "login.succeeded",
        person_id=row.id,
        client_ip=client_ip,
        detail={"method": "pwd", "login_kind": login_kind},
    )
    return AuthenticationResult(
        ok=True,
        reason="identity.login_ok",
        person_id=row.id,
        amr=("pwd",),
        second_factors=_second_factors(session, row),
        proofing_level=ProofingLevel(row.proofing_level),
    )


def _failure(
    session: Session,
    clock: Clock,
    row: Person | None,
    keys_: list[str],
    login_kind: str,
    client_ip: str | None,
    policy: AuthPolicy,
) -> AuthenticationResult:
    now = clock.now()
    locked_until: datetime | None = None
    failures = 0
    for key in keys_:
        lockout = policy.account if key.startswith("acct:") else policy.ip
        after = throttle.record_failure(session, key, now, lockout)
        if key.startswith("acct:"):
            failures = after.failures
        if after.locked_at(now) and (locked_until is None or after.locked_until > locked_until):  # type: ignore[operator]
            locked_until = after.locked_until
    person_id = row.id if row is not None else None
    sh.security_event(
        session,
        clock,
        "login.failed",
        person_id=person_id,
        client_ip=client_ip,
        detail={"reason": "identity.login_failed", "login_kind": login_kind, "failures": failures},
    )
    if locked_until is not None:
        sh.security_event(
            session,
            clock,
            "login.locked_out",
            person_id=person_id,
            client_ip=client_ip,
            detail={"locked_until": locked_until.isoformat(), "failures": failures},
        )
    return AuthenticationResult(
        ok=False,
        reason="identity.login_failed",
        person_id=None,
        amr=(),
        second_factors=(),
        proofing_level=None,
        locked_until=locked_until,
        retry_after_seconds=_retry(locked_until, now),
    )


# --- SMS one-time codes ------------------------------------------------------------------------


def send_sms_code(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    sender: SmsSender,
    person_id: str,
    purpose: SmsPurpose,
) -> SmsCodeSent:
    """Send a 6-digit code (5 minutes, 5 attempts) to the account's phone. Only its MAC is
    stored. At most one code per person and purpose per minute (``identity.sms_too_soon``)."""
    if purpose not in ("verify_phone", "login"):
        raise InvalidInput("未知的验证码用途", code="identity.bad_purpose")
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    now = clock.now()
    recent = session.scalar(
        select(SmsChallenge.id).where(
            SmsChallenge.person_id == row.id,
            SmsChallenge.purpose == purpose,
            SmsChallenge.created_at > now - SMS_RESEND_INTERVAL,
        )
    )
    if recent is not None:
        raise RateLimited(
            "验证码发送过于频繁，请稍后再试",
            code="identity.sms_too_soon",
            extra={"retry_after": int(SMS_RESEND_INTERVAL.total_seconds())},
        )
    challenge_id = new_id("smc")
    code = new_code()
    session.add(
        SmsChallenge(
            id=challenge_id,
            person_id=row.id,
            phone=row.phone,
            purpose=purpose,
            code_mac=code_mac(keys.code_mac, challenge_id, code),
            attempts=0,
            created_at=now,
            expires_at=now + SMS_CODE_TTL,
        )
    )
    minutes = int(SMS_CODE_TTL.total_seconds() // 60)
    text = f"【一网通办】验证码 {code}，{minutes} 分钟内有效。请勿告诉他人。"
    sender.send(session=session, clock=clock, phone=row.phone, text=text)
    sh.security_event(
        session,
        clock,
        "sms.sent",
        person_id=row.id,
        detail={"reason": purpose, "phone_masked": mask_phone(row.phone)},
    )
    return SmsCodeSent(challenge_id, mask_phone(row.phone), now + SMS_CODE_TTL)


def check_sms_code(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    person_id: str,
    challenge_id: str,
    code: str,
    purpose: SmsPurpose,
) -> tuple[bool, str]:
    """``(ok, reason)``; consumes the challenge on success; counts attempts (max 5)."""
    row = session.scalars(
        select(SmsChallenge)
        .where(SmsChallenge.id == sh.check_id(challenge_id, "smc"))
        .with_for_update()
    ).one_or_none()
    if row is None or row.person_id != person_id or row.purpose != purpose:
        raise ChallengeNotFound("验证请求不存在或已失效")
    now = clock.now()
    if row.consumed_at is not None:
        return False, "identity.code_used"
    if now >= row.expires_at:
        return False, "identity.code_expired"
    if row.attempts >= SMS_CODE_MAX_ATTEMPTS:
        return False, "identity.code_attempts_exhausted"
    row.attempts += 1
    if not code_matches(keys.code_mac, row.id, str(code), row.code_mac):
        return False, "identity.code_mismatch"
    row.consumed_at = now
    return True, "identity.code_ok"


# --- TOTP --------------------------------------------------------------------------------------


def _totp_secret(keys: IdentityKeys, cred: TotpCredential) -> bytes:
    return sm4_gcm_decrypt(
        keys.totp_encryption, cred.secret_enc, aad=_TOTP_AAD + cred.person_id.encode()
    )


def enrol_totp(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    person_id: str,
    policy: AuthPolicy = _DEFAULT_POLICY,
) -> TotpEnrolment:
    """Start (or restart, if not yet confirmed) TOTP enrolment; returns the otpauth:// URI.
    The credential is usable after ``confirm_totp`` with a first code."""
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    existing = session.get(TotpCredential, row.id)
    if existing is not None and existing.confirmed_at is not None:
        raise InvalidInput("已绑定动态口令，请先解除绑定", code="identity.totp_already_enrolled")
    params = TotpParameters()
    secret = new_totp_secret()
    enc = sm4_gcm_encrypt(keys.totp_encryption, secret, aad=_TOTP_AAD + row.id.encode())
    if existing is None:
        session.add(
            TotpCredential(
                person_id=row.id,
                secret_enc=enc,
                algorithm=params.algorithm,
                digits=params.digits,
                step_seconds=params.step_seconds,
                created_at=clock.now(),
            )
        )
    else:
        existing.secret_enc, existing.created_at, existing.last_used_step = enc, clock.now(), None
    account = row.username or mask_phone(row.phone)
    uri = provisioning_uri(secret, account=account, issuer=policy.totp_issuer, params=params)
    sh.security_event(session, clock, "totp.enrolment_started", person_id=row.id)
    return TotpEnrolment(uri, base64.b32encode(secret).decode("ascii").rstrip("="))


def _check_totp(
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    person_id: str,
    code: str,
    leeway: int,
    *,
    confirmed: bool,
) -> tuple[bool, str]:
    cred = session.scalars(
        select(TotpCredential).where(TotpCredential.person_id == person_id).with_for_update()
    ).one_or_none()
    if cred is None or (cred.confirmed_at is not None) != confirmed:
        return False, "identity.totp_not_enrolled"
    params = TotpParameters(cred.algorithm, cred.digits, cred.step_seconds)  # type: ignore[arg-type]
    step = verify_totp(
        _totp_secret(keys, cred),
        str(code),
        at=clock.now(),
        last_used_step=cred.last_used_step,
        leeway=leeway,
        params=params,
    )
    if step is None:
        return False, "identity.code_mismatch"
    cred.last_used_step = step
    if not confirmed:
        cred.confirmed_at = clock.now()
    return True, "identity.code_ok"


def confirm_totp(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    person_id: str,
    code: str,
    policy: AuthPolicy = _DEFAULT_POLICY,
) -> bool:
    ok, _reason = _check_totp(
        session,
        clock,
        keys,
        sh.check_id(person_id, "psn"),
        code,
        policy.totp_leeway_steps,
        confirmed=False,
    )
    sh.security_event(
        session, clock, "totp.enrolled" if ok else "totp.confirmation_failed", person_id=person_id
    )
    return ok


def verify_second_factor(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    person_id: str,
    method: Literal["otp", "sms"],
    code: str,
    challenge_id: str | None = None,
    client_ip: str | None = None,
    policy: AuthPolicy = _DEFAULT_POLICY,
) -> SecondFactorResult:
    """Second factor after a password: ``otp`` (TOTP; a step once used is refused) or ``sms``
    (``challenge_id`` from ``send_sms_code(purpose="login")``). Failures count against the
    account's lockout like password failures."""
    pid = sh.check_id(person_id, "psn")
    now = clock.now()
    acct = f"acct:{pid}"
    current = throttle.state(session, acct, now)
    if current.locked_at(now):
        sh.security_event(
            session, clock, "second_factor.refused_locked", person_id=pid, client_ip=client_ip
        )
        return SecondFactorResult(False, "identity.locked", None, current.locked_until)
    if method == "otp":
        ok, reason = _check_totp(
            session, clock, keys, pid, code, policy.totp_leeway_steps, confirmed=True
        )
    elif method == "sms":
        if challenge_id is None:
            raise InvalidInput("缺少短信验证请求标识", code="identity.missing_challenge")
        ok, reason = check_sms_code(
            session=session,
            clock=clock,
            keys=keys,
            person_id=pid,
            challenge_id=challenge_id,
            code=code,
            purpose="login",
        )
    else:
        raise InvalidInput("未知的第二因素", code="identity.bad_second_factor")
    if ok:
        throttle.reset(session, acct, now)
        sh.security_event(
            session,
            clock,
            "second_factor.succeeded",
            person_id=pid,
            client_ip=client_ip,
            detail={"method": method},
        )
        return SecondFactorResult(True, reason, method)
    after = throttle.record_failure(session, acct, now, policy.account)
    sh.security_event(
        session,
        clock,
        "second_factor.failed",
        person_id=pid,
        client_ip=client_ip,
        detail={"method": method, "reason": reason, "failures": after.failures},
    )
    return SecondFactorResult(
        False, reason, None, after.locked_until if after.locked_at(now) else None
    )
