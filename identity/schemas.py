"""Request and response bodies of the identity HTTP API (pydantic, edges only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from identity.records import (
    ActingFor,
    AuthorisationRecord,
    OrganisationRecord,
    PersonRecord,
    SmsCodeSent,
    UpstreamStarted,
    VerificationOutcome,
)

__all__ = [
    "ActingForRead",
    "AgentGrantCreate",
    "AssertionPost",
    "AuthorisationRead",
    "ChallengeRead",
    "MeRead",
    "OrganisationCreate",
    "OrganisationRead",
    "PersonCreate",
    "PersonRead",
    "VerificationCreate",
    "VerificationRead",
]

_Body = ConfigDict(extra="forbid", str_max_length=500)


class PersonCreate(BaseModel):
    model_config = _Body
    name: str = Field(max_length=50)
    #: GB 11643 citizen ID number; in the body only, never in a URL.
    id_number: str = Field(max_length=32)
    phone: str = Field(max_length=20)
    password: str | None = Field(default=None, max_length=128)
    username: str | None = Field(default=None, max_length=32)


class PersonRead(BaseModel):
    id: str
    name: str
    id_number_masked: str
    phone: str
    phone_verified: bool
    username: str | None
    proofing_level: int
    has_password: bool
    has_totp: bool
    network_id_linked: bool
    created_at: datetime

    @classmethod
    def of(cls, r: PersonRecord) -> PersonRead:
        return cls(
            id=r.id,
            name=r.name,
            id_number_masked=r.id_number_masked,
            phone=r.phone,
            phone_verified=r.phone_verified,
            username=r.username,
            proofing_level=int(r.proofing_level),
            has_password=r.has_password,
            has_totp=r.has_totp,
            network_id_linked=r.network_id_linked,
            created_at=r.created_at,
        )


class ActingForRead(BaseModel):
    legal_person_id: str
    name: str
    uscc: str
    role: Literal["legal_rep", "agent"]
    authorisation_id: str | None
    scopes: list[str]
    expires_at: datetime | None

    @classmethod
    def of(cls, a: ActingFor) -> ActingForRead:
        return cls(
            legal_person_id=a.legal_person_id,
            name=a.name,
            uscc=a.uscc,
            role=a.role,
            authorisation_id=a.authorisation_id,
            scopes=list(a.scopes),
            expires_at=a.expires_at,
        )


class MeRead(BaseModel):
    person: PersonRead
    acting_for: list[ActingForRead]


class VerificationCreate(BaseModel):
    """Fields by kind: ``bank_card`` needs ``card_number``; ``phone`` without ``code`` sends a
    code, with ``challenge_id`` + ``code`` completes; ``network_id`` without ``assertion``
    starts, with it completes; ``population`` and ``face`` need nothing."""

    model_config = _Body
    card_number: str | None = Field(default=None, max_length=32)
    challenge_id: str | None = Field(default=None, max_length=40)
    code: str | None = Field(default=None, max_length=16)
    assertion: str | None = Field(default=None, max_length=8192)


class VerificationRead(BaseModel):
    evidence_id: str
    kind: str
    outcome: Literal["match", "mismatch", "unknown"]
    reason: str
    passed: bool
    source: str
    response_sm3: str
    verified_at: datetime
    proofing_level: int
    level_raised: bool

    @classmethod
    def of(cls, v: VerificationOutcome) -> VerificationRead:
        e = v.evidence
        return cls(
            evidence_id=e.id,
            kind=e.kind.value,
            outcome=e.outcome.value,
            reason=e.reason,
            passed=v.passed,
            source=e.source,
            response_sm3=e.response_digest_hex,
            verified_at=e.verified_at,
            proofing_level=int(v.proofing_level),
            level_raised=v.level_raised,
        )


class ChallengeRead(BaseModel):
    """A verification started; complete it with the code or the upstream assertion."""

    challenge_id: str
    expires_at: datetime
    next_url: str | None = None
    phone_masked: str | None = None
    simulated: bool = False

    @classmethod
    def of_sms(cls, s: SmsCodeSent) -> ChallengeRead:
        return cls(
            challenge_id=s.challenge_id, expires_at=s.expires_at, phone_masked=s.phone_masked
        )

    @classmethod
    def of_upstream(cls, u: UpstreamStarted) -> ChallengeRead:
        return cls(
            challenge_id=u.challenge_id,
            expires_at=u.expires_at,
            next_url=u.next_url,
            simulated=u.simulated,
        )


class AssertionPost(BaseModel):
    model_config = _Body
    assertion: str = Field(max_length=8192)


class OrganisationCreate(BaseModel):
    model_config = _Body
    name: str = Field(max_length=100)
    uscc: str = Field(max_length=32)


class OrganisationRead(BaseModel):
    id: str
    name: str
    uscc: str
    legal_rep_id: str
    proofing_level: int
    created_at: datetime

    @classmethod
    def of(cls, r: OrganisationRecord) -> OrganisationRead:
        return cls(
            id=r.id,
            name=r.name,
            uscc=r.uscc,
            legal_rep_id=r.legal_rep_id,
            proofing_level=int(r.proofing_level),
            created_at=r.created_at,
        )


class AgentGrantCreate(BaseModel):
    model_config = _Body
    #: The agent's account id, or the phone number the agent registered with.
    agent_id: str | None = Field(default=None, max_length=40)
    agent_phone: str | None = Field(default=None, max_length=20)
    scopes: list[str] = Field(min_length=1, max_length=20)
    not_before: datetime | None = None
    not_after: datetime


class AuthorisationRead(BaseModel):
    id: str
    legal_person_id: str
    agent_id: str
    granted_by: str
    scopes: list[str]
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, r: AuthorisationRecord) -> AuthorisationRead:
        return cls(
            id=r.id,
            legal_person_id=r.legal_person_id,
            agent_id=r.agent_id,
            granted_by=r.granted_by,
            scopes=list(r.scopes),
            not_before=r.not_before,
            not_after=r.not_after,
            revoked_at=r.revoked_at,
        )
