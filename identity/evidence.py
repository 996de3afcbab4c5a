"""Verification results and evidence facts (pure).

A *verifier* (``identity.verifiers``) asks an authoritative source and returns a
``VerificationResult``; the service stores it as evidence (``identity_evidence`` table) and
derives the account's proofing level from all its evidence (``identity.proofing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["EvidenceKind", "Outcome", "VerificationResult"]


class EvidenceKind(StrEnum):
    #: Name + citizen ID number against the population registry (公安人口库).
    POPULATION = "population"
    #: Entity name + USCC + legal representative against the enterprise registry (市场监管).
    ENTERPRISE = "enterprise"
    #: Possession of the phone number: an SMS one-time code returned.
    PHONE_OTP = "phone_otp"
    #: Bank-card four elements: name, ID number, card number, reserved phone (银行卡四要素).
    BANK_CARD = "bank_card"
    #: Face liveness compared with the ID photo by an external provider (SM2-signed assertion).
    FACE = "face"
    #: National network identity credential 网号/网证 (SM2-signed upstream assertion).
    NETWORK_ID = "network_id"
    #: An upstream OpenID provider's identity assurance at a brokered login (OIDC4IA
    #: ``verified_claims``); ``details``: ``level`` (1-4), ``upstream_issuer``, ``upstream_sub``.
    FEDERATION = "federation"
    #: Recorded by staff: digital certificate check or in-person counter check (no adapter yet).
    CERTIFICATE = "certificate"
    IN_PERSON = "in_person"


class Outcome(StrEnum):
    #: The source confirmed every submitted element.
    MATCH = "match"
    #: The source knows the subject, but at least one element differs (or the face/liveness
    #: check failed).
    MISMATCH = "mismatch"
    #: The source does not know the subject.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """One verification that was performed. Being unable to perform one raises instead
    (``RegistryUnavailable``, ``RegistryBadResponse``, ``AssertionRejected``)."""

    kind: EvidenceKind
    outcome: Outcome
    #: Stable reason code, e.g. ``population.match``, ``face.liveness_failed``.
    reason: str
    #: The endpoint (or assertion issuer) that answered.
    source: str
    #: Our reference sent with the request (or the challenge id) - no personal data.
    request_ref: str
    #: SM3 of the exact response (or signed assertion) bytes.
    response_digest: bytes
    checked_at: datetime
    #: Small, non-identifying facts: score, liveness, upstream level, ``simulated``.
    details: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.MATCH
