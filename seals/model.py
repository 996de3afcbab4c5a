"""Tables of the seal registry (印章登记), stamping requests (用印申请) and usage (用章记录).

Only metadata, public bytes and digests are stored: the seal's holder key lives in ``keys``
(usage SEAL_HOLDER, owner = the seal id) and its certificate in ``trust.ca``. The made seal
(``esl``, a GB/T 38540 v4 SESeal) is stored as DER with its SM3.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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

__all__ = ["Seal", "SealAssignment", "SealUsage", "StampRequest"]

_STATUS_SQL = "'applied', 'made', 'active', 'suspended', 'revoked', 'expired'"
_TYPES_SQL = (
    "'official', 'admin_approval', 'contract', 'finance', 'invoice', 'legal_representative', "
    "'business'"
)
_FORMS_SQL = "'bytes', 'pdf', 'ofd'"


class Seal(Base):
    __tablename__ = "seal"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_SQL})", name="status_known"),
        CheckConstraint(f"seal_type IN ({_TYPES_SQL})", name="type_known"),
        CheckConstraint("picture_source IN ('drawn', 'uploaded')", name="picture_source_known"),
        CheckConstraint("valid_from < valid_to", name="validity_ordered"),
        Index("ix_seal_organisation_status", "organisation_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(40), ForeignKey("organisation.id"))
    seal_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    #: SES_SealInfo.esID: 32 upper-case hex characters, unique.
    es_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    picture_png: Mapped[bytes] = mapped_column(LargeBinary)
    picture_source: Mapped[str] = mapped_column(String(16))
    picture_width_mm: Mapped[int] = mapped_column(Integer)
    picture_height_mm: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime())
    two_person_rule: Mapped[bool] = mapped_column(Boolean, default=False)
    holder_key_id: Mapped[str | None] = mapped_column(String(64), default=None)
    holder_cert_serial: Mapped[str | None] = mapped_column(String(40), default=None)
    #: SM3 of the holder certificate DER: finds the seal of a PDF signature's signer.
    holder_cert_sm3: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    maker_key_id: Mapped[str | None] = mapped_column(String(64), default=None)
    esl: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    esl_sm3: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    made_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_reason: Mapped[str] = mapped_column(String(500))


class SealAssignment(Base):
    """A named custodian or authorised user of one seal (``principal`` = ``Principal.actor``)."""

    __tablename__ = "seal_assignment"
    __table_args__ = (
        UniqueConstraint("seal_id", "principal", "duty"),
        CheckConstraint("duty IN ('custodian', 'user')", name="duty_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seal_id: Mapped[str] = mapped_column(String(40), ForeignKey("seal.id"), index=True)
    principal: Mapped[str] = mapped_column(String(128))
    duty: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class StampRequest(Base):
    """A request to stamp one document (by SM3) under the two-person rule."""

    __tablename__ = "seal_stamp_request"
    __table_args__ = (
        CheckConstraint(f"form IN ({_FORMS_SQL})", name="form_known"),
        CheckConstraint("status IN ('pending', 'approved', 'executed')", name="status_known"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seal_id: Mapped[str] = mapped_column(String(40), ForeignKey("seal.id"), index=True)
    form: Mapped[str] = mapped_column(String(8))
    document_sm3: Mapped[str] = mapped_column(String(64))
    document_size: Mapped[int] = mapped_column(Integer)
    #: The stamping options (placement, propertyInfo, timestamp) as JSON.
    options_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class SealUsage(Base):
    """用章记录: one use of a seal, written with its ``seal.used`` log entry."""

    __tablename__ = "seal_usage"
    __table_args__ = (
        CheckConstraint(f"form IN ({_FORMS_SQL})", name="form_known"),
        Index("ix_seal_usage_seal_used_at", "seal_id", "used_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seal_id: Mapped[str] = mapped_column(String(40), ForeignKey("seal.id"))
    organisation_id: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    actor_display: Mapped[str] = mapped_column(String(200))
    form: Mapped[str] = mapped_column(String(8))
    input_sm3: Mapped[str] = mapped_column(String(64))
    output_sm3: Mapped[str] = mapped_column(String(64))
    input_size: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("seal_stamp_request.id"), default=None
    )
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Index of the ``seal.used`` entry in the transparency log.
    log_index: Mapped[int] = mapped_column(BigInteger)
