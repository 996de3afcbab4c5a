"""Frozen results returned by the CA services (no ORM objects leave the package)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trust.ca.profiles import Profile
from trust.ca.x509 import certificate_to_pem

__all__ = ["CaInitialised", "CertificateStatus", "IssuedCertificate", "TrustAnchor"]


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    #: Lower-case hexadecimal serial number.
    serial: str
    der: bytes
    subject: str
    issuer: str
    profile: Profile
    #: Keystore key id when the key is one of ours.
    key_id: str | None
    not_before: datetime
    not_after: datetime

    @property
    def pem(self) -> str:
        return certificate_to_pem(self.der)


@dataclass(frozen=True, slots=True)
class CaInitialised:
    root: IssuedCertificate
    issuing: IssuedCertificate


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    """Status of one certificate this CA issued, as the public status endpoint shows it."""

    serial: str
    #: ``good`` or ``revoked`` (RFC 6960 §2.2 vocabulary; ``unknown`` is a 404 instead).
    status: str
    revoked_at: datetime | None
    #: CRLReason name (RFC 5280 §5.3.1) when revoked.
    reason: str | None
    #: Past ``not_after`` at the time asked (independent of revocation).
    expired: bool
    subject: str
    issuer: str
    profile: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    id: str
    subject: str
    fingerprint_sm3: str
    #: ``own`` (this CA's root) or ``imported``.
    source: str
    label: str | None
    not_after: datetime
    der: bytes
    added_at: datetime

    @property
    def pem(self) -> str:
        return certificate_to_pem(self.der)
