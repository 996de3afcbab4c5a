"""Request and response bodies of the seals API (pydantic; the edge only)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from seals.errors import BadSealImage
from seals.service import DEFAULT_VALID_DAYS, MAX_VALID_DAYS, SealRecord
from seals.service_maker import MAX_IMAGE_BYTES
from seals.service_stamp import StampRequestRecord, UsageRecord

__all__ = [
    "LifecycleChange",
    "SealCreate",
    "SealRead",
    "StampRequestRead",
    "UsageRead",
    "VerificationReport",
]

_MAX_IMAGE_B64: Final = (MAX_IMAGE_BYTES + 2) // 3 * 4


class SealCreate(BaseModel):
    """申请刻制印章. ``seal_type``: a code (``admin_approval``), its Chinese name or its number;
    ``image_base64``: a PNG or JPEG (at most 1 MiB), else a picture is drawn."""

    model_config = ConfigDict(extra="forbid")

    organisation_id: str = Field(min_length=1, max_length=40)
    seal_type: str = Field(min_length=1, max_length=32, examples=["admin_approval"])
    name: str = Field(min_length=1, max_length=64, examples=["某市市场监督管理局行政审批专用章"])
    reason: str = Field(min_length=1, max_length=500)
    image_base64: str | None = Field(default=None, max_length=_MAX_IMAGE_B64)
    image_width_mm: int | None = Field(default=None, ge=10, le=100)
    image_height_mm: int | None = Field(default=None, ge=10, le=100)
    person_name: str | None = Field(default=None, max_length=20)
    valid_days: int = Field(default=DEFAULT_VALID_DAYS, ge=1, le=MAX_VALID_DAYS)
    two_person_rule: bool = False
    custodians: list[str] = Field(default_factory=list, max_length=50)
    users: list[str] = Field(default_factory=list, max_length=50)

    def image_bytes(self) -> bytes | None:
        if self.image_base64 is None:
            return None
        try:
            return base64.b64decode(self.image_base64, validate=True)
        except (binascii.Error, ValueError):
            raise BadSealImage("image_base64 不是有效的 Base64") from None

    def image_size(self) -> tuple[int, int] | None:
        if self.image_width_mm is None and self.image_height_mm is None:
            return None
        width = self.image_width_mm or self.image_height_mm
        height = self.image_height_mm or self.image_width_mm
        assert width is not None
        assert height is not None
        return width, height


class LifecycleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class SealRead(BaseModel):
    id: str
    organisation_id: str
    organisation_name: str
    organisation_uscc: str
    seal_type: str
    type_label: str
    name: str
    es_id: str
    status: str = Field(description="applied | made | active | suspended | revoked | expired")
    recorded_status: str
    status_reason: str
    status_changed_at: datetime
    valid_from: datetime
    valid_to: datetime
    two_person_rule: bool
    picture_source: str
    picture_width_mm: int
    picture_height_mm: int
    holder_cert_serial: str | None
    esl_sm3: str | None
    made_at: datetime | None
    created_at: datetime
    created_by: str
    custodians: list[str]
    users: list[str]

    @classmethod
    def of(cls, r: SealRecord) -> SealRead:
        return cls(
            id=r.id,
            organisation_id=r.organisation_id,
            organisation_name=r.organisation_name,
            organisation_uscc=r.organisation_uscc,
            seal_type=r.seal_type.value,
            type_label=r.type_label,
            name=r.name,
            es_id=r.es_id,
            status=r.status.value,
            recorded_status=r.recorded_status.value,
            status_reason=r.status_reason,
            status_changed_at=r.status_changed_at,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            two_person_rule=r.two_person_rule,
            picture_source=r.picture_source,
            picture_width_mm=r.picture_size_mm[0],
            picture_height_mm=r.picture_size_mm[1],
            holder_cert_serial=r.holder_cert_serial,
            esl_sm3=r.esl_sm3,
            made_at=r.made_at,
            created_at=r.created_at,
            created_by=r.created_by,
            custodians=list(r.custodians),
            users=list(r.users),
        )


class UsageRead(BaseModel):
    """用章记录."""

    id: str
    seal_id: str
    actor: str
    actor_display: str
    form: str
    input_sm3: str
    output_sm3: str
    input_size: int
    request_id: str | None
    used_at: datetime
    log_index: int

    @classmethod
    def of(cls, r: UsageRecord) -> UsageRead:
        return cls(
            id=r.id,
            seal_id=r.seal_id,
            actor=r.actor,
            actor_display=r.actor_display,
            form=r.form.value,
            input_sm3=r.input_sm3,
            output_sm3=r.output_sm3,
            input_size=r.input_size,
            request_id=r.request_id,
            used_at=r.used_at,
            log_index=r.log_index,
        )


class StampRequestRead(BaseModel):
    """用印申请 (two-person rule)."""

    id: str
    seal_id: str
    form: str
    document_sm3: str
    document_size: int
    options: dict[str, Any]
    status: str = Field(description="pending | approved | executed")
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    executed_at: datetime | None

    @classmethod
    def of(cls, r: StampRequestRecord) -> StampRequestRead:
        return cls(
            id=r.id,
            seal_id=r.seal_id,
            form=r.form.value,
            document_sm3=r.document_sm3,
            document_size=r.document_size,
            options={
                "property_info": r.options.property_info,
                "timestamp": r.options.timestamp,
                "page": r.options.page,
                "x_mm": r.options.x_mm,
                "y_mm": r.options.y_mm,
                "keyword": r.options.keyword,
                "cross_page": r.options.cross_page,
            },
            status=r.status,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            approved_by=r.approved_by,
            approved_at=r.approved_at,
            executed_at=r.executed_at,
        )


class VerificationReport(BaseModel):
    """验章报告. ``verdict``: VALID (有效) / INVALID (无效) / INDETERMINATE (无法确定, e.g. the
    issuing CA is not on the trust list). Each entry of ``signatures`` has its own verdict,
    the seal's name and type, the organisation, the signer, the signing time and ``checks``
    (name -> status pass / fail / not_checked / cannot_check, reason, detail)."""

    model_config = ConfigDict(extra="allow")

    verdict: str = Field(examples=["VALID"])
    reason: str
    kind: str = Field(description="seal | ses_signature | pdf | ofd")
    filename: str | None
    document_sm3: str
    size: int
    original_sm3: str | None
    verified_at: datetime
    signatures: list[dict[str, Any]]
    uncovered_files: list[str]
    non_conformities: list[str]
