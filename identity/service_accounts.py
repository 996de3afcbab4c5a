"""Registration and look-up of real-name accounts: natural persons (自然人) and legal persons
(法人). Keyword-only, in the caller's transaction (never commits), each registration logged to
the transparency log (``identity.person_registered``, ``identity.organisation_registered``)
without personal data.

Edges (``specs/identity.md`` §9): every citizen ID number is validated with GB 11643 and every
USCC with GB 32100 before anything else happens (stable codes ``citizen_id.*``, ``uscc.*``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity import throttle
from identity.assurance import ProofingLevel
from identity.errors import IdNumberTaken, PhoneTaken, UsccTaken, UsernameTaken
from identity.keying import IdentityKeys
from identity.model import LegalPerson, Person, TotpCredential
from identity.passwords import check_password_policy, hash_password, verify_password
from identity.pii import (
    LoginKind,
    classify_login,
    decrypt_id_number,
    encrypt_id_number,
    id_number_lookup_hash,
    mask_id_number,
    normalise_name,
    normalise_phone,
    normalise_username,
    validate_id_number,
    validate_uscc_code,
)
from identity.records import OrganisationRecord, PersonRecord
from trust.clock import Clock
from trust.crypto import constant_time_equal
from trust.errors import InvalidInput
from trust.ids import new_id

__all__ = [
    "PasswordChange",
    "change_password",
    "find_person_by_id_number_and_name",
    "find_person_by_login",
    "get_organisation",
    "get_person",
    "id_number_of",
    "organisations_represented_by",
    "register_organisation",
    "register_person",
    "set_password",
]


def register_person(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    name: str,
    id_number: str,
    phone: str,
    password: str | None = None,
    username: str | None = None,
    actor: str = "self",
) -> PersonRecord:
    """Create a natural person's account at proofing level P1 (self-asserted).

    Raises ``InvalidInput`` (``citizen_id.*``, ``identity.bad_phone``, ``identity.bad_name``,
    ``identity.password_policy``) or ``Conflict`` (``identity.id_number_taken``,
    ``identity.phone_taken``, ``identity.username_taken``).
    """
    number = validate_id_number(id_number, today=clock.now().date())
    clean_name = normalise_name(name)
    clean_phone = normalise_phone(phone)
    clean_username = normalise_username(username) if username else None
    password_hash = hash_password(password) if password is not None else None
    lookup = id_number_lookup_hash(keys.id_lookup, number)
    if session.scalar(select(Person.id).where(Person.id_number_hash == lookup)) is not None:
        raise IdNumberTaken("该身份证件已注册")
    if session.scalar(select(Person.id).where(Person.phone == clean_phone)) is not None:
        raise PhoneTaken("该手机号已注册")
    if clean_username and session.scalar(
        select(Person.id).where(Person.username == clean_username)
    ):
        raise UsernameTaken("该用户名已被使用")
    person_id = new_id("psn")
    row = Person(
        id=person_id,
        name=clean_name,
        id_number_hash=lookup,
        id_number_enc=encrypt_id_number(keys.id_encryption, number, account_id=person_id),
        id_number_masked=mask_id_number(number),
        phone=clean_phone,
        username=clean_username,
        password_hash=password_hash,
        status="active",
        proofing_level=int(ProofingLevel.P1),
        created_at=clock.now(),
    )
    session.add(row)
    sh.flush_or(session, IdNumberTaken("该身份证件或手机号已注册"))
    sh.log(session, clock, "person_registered", person_id, actor, proofing_level=1)
    return sh.person_record(row)


def register_organisation(
    *,
    session: Session,
    clock: Clock,
    name: str,
    uscc: str,
    legal_rep_id: str,
    actor: str,
) -> OrganisationRecord:
    """Create a legal person's account (P1) represented by the natural person ``legal_rep_id``.

    ``actor`` is who registers it (normally ``person:<legal_rep_id>``). Raises ``InvalidInput``
    (``uscc.*``), ``NotFound`` (``identity.person_not_found``), ``Conflict``
    (``identity.uscc_taken``).
    """
    code = validate_uscc_code(uscc)
    clean_name = normalise_name(name)
    rep = sh.person_row(session, sh.check_id(legal_rep_id, "psn"))
    if session.scalar(select(LegalPerson.id).where(LegalPerson.uscc == code)) is not None:
        raise UsccTaken("该统一社会信用代码已注册")
    row = LegalPerson(
        id=new_id("lp"),
        name=clean_name,
        uscc=code,
        legal_rep_id=rep.id,
        status="active",
        proofing_level=int(ProofingLevel.P1),
        created_at=clock.now(),
    )
    session.add(row)
    sh.flush_or(session, UsccTaken("该统一社会信用代码已注册"))
    sh.log(session, clock, "organisation_registered", row.id, actor, uscc=code, legal_rep=rep.id)
    return sh.organisation_record(row)


def get_person(*, session: Session, person_id: str) -> PersonRecord:
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    has_totp = session.scalar(
        select(TotpCredential.person_id).where(
            TotpCredential.person_id == row.id, TotpCredential.confirmed_at.is_not(None)
        )
    )
    return sh.person_record(row, has_totp=has_totp is not None)


def get_organisation(*, session: Session, legal_person_id: str) -> OrganisationRecord:
    return sh.organisation_record(sh.legal_person_row(session, sh.check_id(legal_person_id, "lp")))


def organisations_represented_by(*, session: Session, person_id: str) -> list[OrganisationRecord]:
    rows = session.scalars(
        select(LegalPerson).where(LegalPerson.legal_rep_id == person_id).order_by(LegalPerson.name)
    )
    return [sh.organisation_record(r) for r in rows]


def find_person_by_login(
    *, session: Session, keys: IdentityKeys, login: str
) -> tuple[LoginKind, Person | None]:
    """The account a login string names: phone, username, or citizen ID number (looked up by
    its keyed hash). Internal to the services (returns the row); ``InvalidInput`` if the string
    is none of these."""
    kind, value = classify_login(login)
    if kind == "phone":
        stmt = select(Person).where(Person.phone == value)
    elif kind == "citizen_id":
        stmt = select(Person).where(
            Person.id_number_hash == id_number_lookup_hash(keys.id_lookup, value)
        )
    else:
        stmt = select(Person).where(Person.username == value)
    return kind, session.scalar(stmt)


def set_password(*, session: Session, clock: Clock, person_id: str, new_password: str) -> None:
    row = sh.person_row(session, sh.check_id(person_id, "psn"))
    row.password_hash = hash_password(new_password)
    sh.security_event(session, clock, "password.changed", person_id=row.id)


def id_number_of(row: Person, keys: IdentityKeys) -> str:
    """Decrypt the citizen ID number (registry calls and the consented claim only)."""
    return decrypt_id_number(keys.id_encryption, row.id_number_enc, account_id=row.id)


def find_person_by_id_number_and_name(
    *, session: Session, keys: IdentityKeys, id_number: str, name: str
) -> str | None:
    """The id of the account registered with this citizen ID number *and* this name, else
    ``None`` (no account, or another name: the caller cannot tell which). A number that fails
    GB 11643 raises ``InvalidInput`` (``citizen_id.*``)."""
    number = validate_id_number(id_number)
    try:
        clean_name = normalise_name(name)
    except InvalidInput:
        return None
    row = session.scalar(
        select(Person).where(Person.id_number_hash == id_number_lookup_hash(keys.id_lookup, number))
    )
    if row is None or row.status != "active" or row.name != clean_name:
        return None
    return row.id


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """``ok`` False is a normal result (commit the failure count, then show the page again)."""

    ok: bool
    #: ``identity.password_changed``, ``identity.login_failed`` (current password wrong),
    #: ``identity.locked``.
    reason: str
    retry_after_seconds: int = 0


def change_password(
    *,
    session: Session,
    clock: Clock,
    person_id: str,
    current_password: str,
    new_password: str,
    lockout: throttle.Lockout,
    client_ip: str | None = None,
) -> PasswordChange:
    """Replace the password after checking the current one. The new one must meet the
    enrolment policy (``identity.passwords.check_password_policy``; ``InvalidInput``
    ``identity.password_policy``) and differ from the current one
    (``identity.password_unchanged``). A wrong current password counts against the account's
    lockout like a failed login (a stolen session must not become a password oracle)."""
    row = sh.person_row(session, sh.check_id(person_id, "psn"), for_update=True)
    check_password_policy(new_password)
    now = clock.now()
    key = f"acct:{row.id}"
    current = throttle.state(session, key, now)
    if current.locked_at(now):
        verify_password(current_password[:200], None)  # the same work as any other attempt
        wait = int((current.locked_until - now).total_seconds()) if current.locked_until else 0
        return PasswordChange(False, "identity.locked", max(1, wait))
    if not verify_password(current_password[:200], row.password_hash).ok:
        after = throttle.record_failure(session, key, now, lockout)
        sh.security_event(
            session,
            clock,
            "password.change_failed",
            person_id=row.id,
            client_ip=client_ip,
            detail={"reason": "identity.login_failed", "failures": after.failures},
        )
        return PasswordChange(False, "identity.login_failed")
    if constant_time_equal(new_password, current_password):
        raise InvalidInput("新密码不能与当前密码相同", code="identity.password_unchanged")
    throttle.reset(session, key, now)
    row.password_hash = hash_password(new_password)
    sh.security_event(session, clock, "password.changed", person_id=row.id, client_ip=client_ip)
    return PasswordChange(True, "identity.password_changed")
