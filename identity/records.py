"""What the identity services return: frozen values, never ORM rows, never a full citizen ID
number (except the consented claim built by ``identity.service_claims``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from identity.assurance import ProofingLevel
from identity.evidence import EvidenceKind, Outcome

__all__ = [
    "ActingFor",
    "AuthenticationResult",
    "AuthorisationRecord",
    "EvidenceRecord",
    "OrganisationRecord",
    "PersonRecord",
    "SecondFactorResult",
    "SmsCodeSent",
    "TotpEnrolment",
    "UpstreamStarted",
    "VerificationOutcome",
]


@dataclass(frozen=True, slots=True)
class PersonRecord:
    id: str
    name: str
    #: Masked display form only, e.g. ``110*************2X``.
    id_number_masked: str
    phone: str
    phone_verified: bool
    username: str | None
    proofing_level: ProofingLevel
    has_password: bool
    has_totp: bool
    network_id_linked: bool
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrganisationRecord:
    id: str
    name: str
    uscc: str
    legal_rep_id: str
    proofing_level: ProofingLevel
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuthorisationRecord:
    id: str
    legal_person_id: str
    agent_id: str
    granted_by: str
    scopes: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    created_at: datetime
    revoked_at: datetime | None

    def valid_at(self, at: datetime) -> bool:
        return self.revoked_at is None and self.not_before <= at < self.not_after


@dataclass(frozen=True, slots=True)
class ActingFor:
    """One organisation a person may act for, offered for selection at login (§9)."""

    legal_person_id: str
    name: str
    uscc: str
    role: Literal["legal_rep", "agent"]
    #: The agent authorisation; ``None`` for the legal representative (acts by law).
    authorisation_id: str | None
    #: Empty for the legal representative: all scopes.
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    id: str
    kind: EvidenceKind
    outcome: Outcome
    reason: str
    source: str
    request_ref: str
    response_digest_hex: str
    verified_at: datetime


@dataclass(frozen=True, slots=True)
class VerificationOutcome:
    """A verification performed and stored as evidence, and the proofing level after it."""

    evidence: EvidenceRecord
    passed: bool
    proofing_level: ProofingLevel
    #: The level rose because of this evidence.
    level_raised: bool


@dataclass(frozen=True, slots=True)
class UpstreamStarted:
    """A face / 网证 verification started: the assertion must come back before ``expires_at``."""

    challenge_id: str
    next_url: str | None
    expires_at: datetime
    simulated: bool


@dataclass(frozen=True, slots=True)
class SmsCodeSent:
    challenge_id: str
    phone_masked: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """Returned once, at enrolment: the secret is in ``otpauth_uri`` and nowhere else."""

    otpauth_uri: str
    secret_base32: str


@dataclass(frozen=True, slots=True)
class AuthenticationResult:
    """Result of a password login attempt. ``ok`` False is a normal result (the caller commits
    the failure count and then answers 401/429), not an exception."""

    ok: bool
    #: ``identity.login_ok``, ``identity.login_failed``, ``identity.locked``.
    reason: str
    person_id: str | None
    #: Methods performed so far (RFC 8176): ``("pwd",)`` after a password.
    amr: tuple[str, ...]
    #: Second factors the account has (``otp`` = TOTP, ``sms``); the OIDC layer decides
    #: whether the requested acr needs one.
    second_factors: tuple[str, ...]
    proofing_level: ProofingLevel | None
    locked_until: datetime | None = None
    retry_after_seconds: int = 0


@dataclass(frozen=True, slots=True)
class SecondFactorResult:
    ok: bool
    reason: str
    #: The amr value of the factor (``otp`` or ``sms``) when ``ok``.
    method: str | None
    locked_until: datetime | None = None
