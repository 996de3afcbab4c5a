"""Tables of the certificate authority (SQLAlchemy only).

- ``ca_certificates``: every certificate this CA signed (its own root and issuing CA included),
  with the exact DER, the profile, the keystore key id for our own keys, and revocation state;
- ``ca_authorities``: which certificate is the root and which the issuing CA, and their key ids;
- ``ca_crls``: every CRL published, numbered per issuer (RFC 5280 §5.2.3, monotonically increasing);
- ``ca_trust_anchors``: the trust list verifiers use (our own root plus imported anchors).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = ["CaAuthority", "CaCertificate", "CaCrl", "CaTrustAnchor"]


class CaCertificate(Base):
    __tablename__ = "ca_certificates"

    #: Serial number as lower-case hexadecimal without leading zeros (RFC 5280 §4.1.2.2).
    serial: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: Serial of the issuing certificate; ``None`` for a self-signed root.
    issuer_serial: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("ca_certificates.serial"), default=None
    )
    subject: Mapped[str] = mapped_column(String(1024))
    issuer: Mapped[str] = mapped_column(String(1024))
    profile: Mapped[str] = mapped_column(String(32))
    #: Keystore key id when the subject key is one of ours; ``None`` for external keys (CSRs).
    key_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    #: SM3 of the SubjectPublicKeyInfo DER, hex: finds every certificate of one key.
    spki_sm3: Mapped[str] = mapped_column(String(64), index=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    #: ``good`` or ``revoked``.
    status: Mapped[str] = mapped_column(String(16), default="good")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: RFC 5280 §5.3.1 CRLReason name, e.g. ``key_compromise``.
    revocation_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_ca_certificates_issuer_status", "issuer_serial", "status"),)


class CaAuthority(Base):
    __tablename__ = "ca_authorities"

    #: ``root`` or ``issuing``; one of each.
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), ForeignKey("ca_certificates.serial"))
    key_id: Mapped[str] = mapped_column(String(64))
    #: Where relying parties fetch this CA's CRL (put into the certificates it issues).
    crl_url: Mapped[str | None] = mapped_column(String(512), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaCrl(Base):
    __tablename__ = "ca_crls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_serial: Mapped[str] = mapped_column(String(40), ForeignKey("ca_certificates.serial"))
    crl_number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("issuer_serial", "crl_number"),)


class CaTrustAnchor(Base):
    __tablename__ = "ca_trust_anchors"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: SM3 of the certificate DER, hex: the same anchor is never listed twice.
    fingerprint_sm3: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(1024))
    #: ``own`` (this CA's root) or ``imported``.
    source: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(String(128))
