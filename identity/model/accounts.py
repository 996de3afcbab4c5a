"""Tables of real-name accounts, evidence, second factors, agent authorisations, consent and
security events (SQLAlchemy only).

Personal data minimisation: the citizen ID number is stored only SM4-GCM encrypted
(``id_number_enc``) beside its keyed hash (``id_number_hash``, for look-ups) and a masked display
form. Passwords are Argon2id hashes, SMS codes HMAC-SM3 MACs, TOTP secrets SM4-GCM encrypted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = [
    "AgentAuthorisation",
    "Consent",
    "Evidence",
    "FaceChallenge",
    "LegalPerson",
    "LoginThrottle",
    "NetworkIdChallenge",
    "Person",
    "SecurityEvent",
    "SeenNonce",
    "SmsChallenge",
    "SmsOutbox",
    "TotpCredential",
]

_LEVEL_CHECK = "proofing_level BETWEEN 1 AND 4"


class Person(Base):
    """A natural person's real-name account (自然人)."""

    __tablename__ = "identity_person"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled')", name="status_known"),
        CheckConstraint(_LEVEL_CHECK, name="level_range"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    #: HMAC-SM3(id_lookup key, normalised GB 11643 number).
    id_number_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    #: SM4-GCM(id_encryption key, number), associated data bound to ``id``.
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary(64))
    id_number_masked: Mapped[str] = mapped_column(String(18))
    phone: Mapped[str] = mapped_column(String(11), unique=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    username: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    #: 网号 from a verified 网证 assertion (a non-plaintext identifier), once linked.
    network_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")
    proofing_level: Mapped[int] = mapped_column(SmallInteger, default=1)
    proofing_basis: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LegalPerson(Base):
    """A legal person's account (法人), represented by a natural-person account."""

    __tablename__ = "identity_legal_person"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled')", name="status_known"),
        CheckConstraint(_LEVEL_CHECK, name="level_range"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: GB 32100-2015 unified social credit code, normalised, check characters valid.
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    legal_rep_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    proofing_level: Mapped[int] = mapped_column(SmallInteger, default=1)
    proofing_basis: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AgentAuthorisation(Base):
    """The legal representative's authorisation of an agent (经办人) with scope and validity."""

    __tablename__ = "identity_agent_authorisation"
    __table_args__ = (
        CheckConstraint("not_after > not_before", name="validity_order"),
        Index("ix_identity_agent_authorisation_pair", "legal_person_id", "agent_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    legal_person_id: Mapped[str] = mapped_column(ForeignKey("identity_legal_person.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    granted_by: Mapped[str] = mapped_column(ForeignKey("identity_person.id"))
    #: Space-separated, sorted, from ``identity.scopes.AGENT_SCOPES``.
    scopes: Mapped[str] = mapped_column(String(500))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(40), default=None)
    revocation_reason: Mapped[str | None] = mapped_column(String(200), default=None)


class Evidence(Base):
    """One performed verification of a person or legal person (match, mismatch or unknown)."""

    __tablename__ = "identity_evidence"
    __table_args__ = (
        CheckConstraint("subject_kind IN ('person', 'legal_person')", name="subject_kind_known"),
        CheckConstraint("outcome IN ('match', 'mismatch', 'unknown')", name="outcome_known"),
        Index("ix_identity_evidence_subject", "subject_kind", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(300))
    request_ref: Mapped[str] = mapped_column(String(64))
    response_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SmsChallenge(Base):
    """An SMS one-time code: only its MAC is stored."""

    __tablename__ = "identity_sms_challenge"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify_phone', 'login')", name="purpose_known"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    phone: Mapped[str] = mapped_column(String(11))
    purpose: Mapped[str] = mapped_column(String(16))
    code_mac: Mapped[bytes] = mapped_column(LargeBinary(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class SmsOutbox(Base):
    """Development SMS channel: messages land here and are shown on a page, not sent."""

    __tablename__ = "identity_sms_outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone: Mapped[str] = mapped_column(String(11))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class TotpCredential(Base):
    __tablename__ = "identity_totp"

    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), primary_key=True)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary(80))
    algorithm: Mapped[str] = mapped_column(String(8))
    digits: Mapped[int] = mapped_column(SmallInteger)
    step_seconds: Mapped[int] = mapped_column(SmallInteger)
    #: Highest time step accepted so far: a code of this step or earlier is a replay.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class FaceChallenge(Base):
    """A face verification we started; the provider's assertion must carry ``nonce``."""

    __tablename__ = "identity_face_challenge"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    provider_session: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class NetworkIdChallenge(Base):
    """A 网证 verification we started; the upstream assertion must carry ``nonce``."""

    __tablename__ = "identity_netid_challenge"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class SeenNonce(Base):
    """Every assertion nonce accepted, per issuer: the primary key refuses a second use."""

    __tablename__ = "identity_seen_nonce"

    issuer: Mapped[str] = mapped_column(String(100), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failure counter with exponential lockout, per account (``acct:<id>``) or client IP
    (``ip:<address>``). Kept in the database so that every process sees one count."""

    __tablename__ = "identity_login_throttle"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Consent(Base):
    """A person's consent to release a claim scope (e.g. ``realname_id``) to one client."""

    __tablename__ = "identity_consent"
    __table_args__ = (UniqueConstraint("person_id", "client_id", "scope"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class SecurityEvent(Base):
    """Login successes and failures, lockouts, grants, verifications. Never a password, code,
    or citizen ID number: ``detail`` holds reason codes and masked values only."""

    __tablename__ = "identity_security_event"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    legal_person_id: Mapped[str | None] = mapped_column(String(40), default=None)
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
