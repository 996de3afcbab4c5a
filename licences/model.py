"""Tables of the electronic licence capability (issue 5; elicence spec §3, §4, §9).

* ``licence_type``: the GB/T 36902 catalogue entry (21-character type code, face fields,
  validity rule, template);
* ``licence``: one version of an issued licence with its GB/T 36903 metadata, the sealed PDF and
  its SM3, the 核验码 as HMAC-SM3 only, the status and its 2-bit status-list slot;
* ``licence_event``: every lifecycle change (reason, actor, time, log index);
* ``licence_status_list``: per issuer, the packed 2-bit list (≥ 131,072 entries) and its
  publication sequence;
* ``licence_verification``: every verification of a licence (the holder's 核验记录);
* ``licence_status_file``: the last signed file of each status list (re-signed when the list
  changed or the file is half-way to stale), so that reads do not sign;
* ``licence_trust_list``: every published signed trust list of issuer keys (the newest is
  served), keyed by a fingerprint of the keys it lists;
* ``licence_share``: holder share grants; ``licence_access``: ex-officio lookups.

Personal data: the holder code (citizen ID number / USCC) is stored as a keyed lookup digest, a
masked form and SM4-GCM ciphertext; the full holder name is on the face of the licence.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = [
    "Licence",
    "LicenceAccess",
    "LicenceEvent",
    "LicenceShare",
    "LicenceStatusFile",
    "LicenceStatusList",
    "LicenceTrustList",
    "LicenceType",
    "LicenceVerification",
]


class LicenceType(Base):
    __tablename__ = "licence_type"

    code: Mapped[str] = mapped_column(String(21), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    defining_authority_name: Mapped[str] = mapped_column(String(100))
    holder_kind: Mapped[str] = mapped_column(String(16))  # natural | legal
    #: JSON: the face fields, validity rule, template and number prefix (``catalogue``).
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class Licence(Base):
    __tablename__ = "licence"
    __table_args__ = (
        UniqueConstraint("issuer_org_id", "idempotency_key", name="idempotency"),
        UniqueConstraint("status_list_id", "status_index", name="status_slot"),
        Index("ix_licence_issuer_created", "issuer_org_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    serial: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    type_code: Mapped[str] = mapped_column(String(21), ForeignKey("licence_type.code"))
    licence_name: Mapped[str] = mapped_column(String(100))
    licence_number: Mapped[str] = mapped_column(String(64))
    issuer_org_id: Mapped[str] = mapped_column(String(40), ForeignKey("organisation.id"))
    issuer_code: Mapped[str] = mapped_column(String(18))
    issuer_name: Mapped[str] = mapped_column(String(100))
    holder_name: Mapped[str] = mapped_column(String(128))
    holder_type_code: Mapped[str] = mapped_column(String(3))
    #: HMAC-SM3(code key, type code ‖ holder code): finds a holder's licences, reveals nothing.
    holder_lookup: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    holder_code_masked: Mapped[str] = mapped_column(String(32))
    holder_salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    #: SM4-GCM(holder key, holder code), AAD = the licence id: needed to re-issue on change.
    holder_code_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    fields: Mapped[str] = mapped_column(Text)  # JSON face fields (照面信息)
    area_code: Mapped[str | None] = mapped_column(String(6), default=None)
    issued_on: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    superseded_by: Mapped[str | None] = mapped_column(String(128), default=None)
    predecessor: Mapped[str | None] = mapped_column(String(128), default=None)
    #: HMAC-SM3 of the normalised 核验码 (spec §9.1): the code itself is never stored.
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    status_list_id: Mapped[str] = mapped_column(String(64))
    status_index: Mapped[int] = mapped_column(Integer)
    #: Deferred: verification never needs the file, only its SM3.
    document_pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    document_sm3: Mapped[str] = mapped_column(String(64), index=True)
    #: kid of the issuer key that signed the EL1 objects: a retired key stays in the trust
    #: list while a live licence it signed exists (``licences.service_trust``).
    signing_kid: Mapped[bytes] = mapped_column(LargeBinary(8), index=True)
    printed_qr: Mapped[str] = mapped_column(Text)  # the URL form printed inside the PDF
    qr_payload: Mapped[str] = mapped_column(Text)  # EL1: form with the sealed file's SM3
    seal_id: Mapped[str] = mapped_column(String(40))
    seal_usage_id: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    request_sm3: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    log_index: Mapped[int] = mapped_column(Integer)


class LicenceEvent(Base):
    __tablename__ = "licence_event"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    licence_id: Mapped[str] = mapped_column(String(40), ForeignKey("licence.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(Integer)


class LicenceStatusList(Base):
    __tablename__ = "licence_status_list"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer_org_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organisation.id"), index=True
    )
    issuer_code: Mapped[str] = mapped_column(String(18))
    size: Mapped[int] = mapped_column(Integer)
    packed: Mapped[bytes] = mapped_column(LargeBinary)
    used: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LicenceStatusFile(Base):
    """The last signed COSE_Sign1 file of a status list and the list sequence it shows."""

    __tablename__ = "licence_status_file"

    list_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("licence_status_list.id"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(Integer)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LicenceTrustList(Base):
    """One published trust list (spec §9.8): ``sequence`` increases by one per publication;
    ``fingerprint`` = SM3 of the listed key ids and states and the signing key's id."""

    __tablename__ = "licence_trust_list"

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entries: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LicenceVerification(Base):
    """One verification (核验记录): what the holder sees. ``client`` is the authenticated
    verifier, if any; ``ip_hint`` a truncated address (first three octets)."""

    __tablename__ = "licence_verification"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    licence_id: Mapped[str] = mapped_column(String(40), ForeignKey("licence.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # code | qr | pdf | share | ex_officio
    result: Mapped[str] = mapped_column(String(24))
    client: Mapped[str | None] = mapped_column(String(128), default=None)
    ip_hint: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LicenceShare(Base):
    __tablename__ = "licence_share"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    licence_id: Mapped[str] = mapped_column(String(40), ForeignKey("licence.id"), index=True)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    fields: Mapped[str] = mapped_column(Text)  # JSON list of disclosed field names
    purpose: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(128))  # Principal.actor of the third party
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LicenceAccess(Base):
    """An ex-officio lookup (依职能用证): staff, service item, case number, reason."""

    __tablename__ = "licence_access"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    licence_id: Mapped[str] = mapped_column(String(40), ForeignKey("licence.id"), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    actor_display: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[str] = mapped_column(String(40))
    service_item_code: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(Integer)
