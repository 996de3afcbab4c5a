"""HTTP schemas of the CA endpoints (pydantic, edges only)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from trust.ca.records import CertificateStatus, IssuedCertificate, TrustAnchor

__all__ = [
    "CertificateCreate",
    "CertificateIssuedRead",
    "CertificateStatusRead",
    "RevocationCreate",
    "TrustAnchorRead",
]


class CertificateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: PKCS#10 request, PEM, signed with SM2-with-SM3 (proof of possession).
    csr: str = Field(max_length=16_384)
    #: Certificate profile, e.g. ``organisation``, ``seal_maker``, ``seal_holder``.
    profile: str = Field(max_length=32)
    validity_days: int | None = Field(default=None, ge=1, le=3660)
    #: Overrides the requested subject: ``{"CN": ..., "O": ..., "uscc": ...}``.
    subject: dict[str, str] | None = None


class RevocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: RFC 5280 §5.3.1 reason, e.g. ``key_compromise``, ``superseded``.
    reason: str = Field(max_length=40)


class CertificateIssuedRead(BaseModel):
    serial: str
    profile: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    certificate_pem: str

    @classmethod
    def of(cls, issued: IssuedCertificate) -> CertificateIssuedRead:
        return cls(
            serial=issued.serial,
            profile=issued.profile.value,
            subject=issued.subject,
            issuer=issued.issuer,
            not_before=issued.not_before,
            not_after=issued.not_after,
            certificate_pem=issued.pem,
        )


class CertificateStatusRead(BaseModel):
    serial: str
    #: ``good`` or ``revoked``.
    status: str
    revoked_at: datetime | None
    reason: str | None
    expired: bool
    subject: str
    issuer: str
    profile: str
    not_before: datetime
    not_after: datetime

    @classmethod
    def of(cls, status: CertificateStatus) -> CertificateStatusRead:
        return cls(
            serial=status.serial,
            status=status.status,
            revoked_at=status.revoked_at,
            reason=status.reason,
            expired=status.expired,
            subject=status.subject,
            issuer=status.issuer,
            profile=status.profile,
            not_before=status.not_before,
            not_after=status.not_after,
        )


class TrustAnchorRead(BaseModel):
    id: str
    subject: str
    fingerprint_sm3: str
    #: ``own`` (this service's root) or ``imported``.
    source: str
    label: str | None
    not_after: datetime
    certificate_pem: str

    @classmethod
    def of(cls, anchor: TrustAnchor) -> TrustAnchorRead:
        return cls(
            id=anchor.id,
            subject=anchor.subject,
            fingerprint_sm3=anchor.fingerprint_sm3,
            source=anchor.source,
            label=anchor.label,
            not_after=anchor.not_after,
            certificate_pem=anchor.pem,
        )
