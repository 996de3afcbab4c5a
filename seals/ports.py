"""Collaborators that seal verification asks, as Protocols: certificate trust and timestamps.

Verification itself is pure; whether a certificate chains to a configured anchor
(``trust.ca.path`` later) and whether a GB/T 20520 timestamp token is good (the TSA package later)
are answered by these pluggable objects. ``NoTrustAnchors`` is the fail-closed default: it
never says "trusted".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = [
    "CertPurpose",
    "NoTrustAnchors",
    "TimestampOutcome",
    "TimestampStatus",
    "TimestampVerifier",
    "TrustEvaluator",
    "TrustOutcome",
    "TrustStatus",
]


class CertPurpose(StrEnum):
    SEAL_SIGNER = "seal_signer"  # 签章者: signs TBS_Sign
    SEAL_MAKER = "seal_maker"  # 制章者: signs SES_SealInfo
    DOCUMENT_SIGNER = "document_signer"  # GB/T 35275 SignedData in OFD (Type="Sign")


class TrustStatus(StrEnum):
    TRUSTED = "trusted"
    NO_TRUSTED_ANCHOR = "no_trusted_anchor"  # "issuer unknown" is not "invalid" (eseal §5.4)
    INVALID = "invalid"  # a chain was found and is broken: signature, validity, CA flags, usage


@dataclass(frozen=True, slots=True)
class TrustOutcome:
    status: TrustStatus
    reason: str  # stable code, e.g. "trust.anchor_lacks_key_cert_sign"
    detail: str = ""
    chain_subjects: tuple[str, ...] = ()  # leaf first, for the report


class TrustEvaluator(Protocol):
    def evaluate(self, certificate: bytes, *, at: datetime, purpose: CertPurpose) -> TrustOutcome:
        """Does ``certificate`` (DER) chain to a configured anchor, judged at ``at``?"""
        ...


class NoTrustAnchors:
    """No anchors configured: every certificate is ``no_trusted_anchor`` (never trusted)."""

    def evaluate(self, certificate: bytes, *, at: datetime, purpose: CertPurpose) -> TrustOutcome:
        return TrustOutcome(
            TrustStatus.NO_TRUSTED_ANCHOR,
            "trust.no_anchors_configured",
            "no trust anchors are configured",
        )


class TimestampStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True, slots=True)
class TimestampOutcome:
    status: TimestampStatus
    reason: str
    time: datetime | None = None  # TSTInfo.genTime when VALID
    detail: str = ""


class TimestampVerifier(Protocol):
    def verify(self, token: bytes, *, covered: bytes) -> TimestampOutcome:
        """Verify a timestamp token whose messageImprint must cover the bytes ``covered``
        (the signature value it timestamps; eseal spec §3.5)."""
        ...
