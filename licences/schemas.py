"""HTTP schemas of the licences API (pydantic, edge only). Domain checks happen in the services;
these bound sizes and shapes so that hostile input is refused early."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CodeVerify",
    "ExOfficioLookup",
    "FieldCreate",
    "FieldRead",
    "LicenceChange",
    "LicenceCreate",
    "LicenceIssuedRead",
    "LicencePage",
    "LicenceRead",
    "LicenceTypeCreate",
    "LicenceTypeRead",
    "MinimalViewRead",
    "QrVerify",
    "ShareCreate",
    "ShareRead",
    "ShareRedeem",
    "StatusChange",
    "StatusListRead",
    "TrustAnchorRead",
    "VerificationRead",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldRead(BaseModel):
    name: str
    label: str
    type: str
    mandatory: bool
    max_length: int
    choices: list[str]


class LicenceTypeRead(BaseModel):
    code: str = Field(description="证照类型代码：定义机构统一社会信用代码 + 3 位数字")
    name: str
    defining_authority_name: str
    defining_authority_code: str
    holder_kind: str = Field(description="natural 自然人 / legal 法人和其他组织")
    holder_type_code: str = Field(description="GB/T 36903 持证主体代码类型代码 (111 / 001)")
    fields: list[FieldRead]
    validity: str = Field(description="years / long_term / given")
    validity_years: int
    template: str


class FieldCreate(_Strict):
    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1, max_length=50)
    type: str = Field(
        default="text", description="text / date / integer / uscc / citizen_id / choice"
    )
    mandatory: bool = True
    max_length: int = Field(default=200, ge=1, le=500)
    choices: list[str] = Field(default_factory=list, max_length=50)


class LicenceTypeCreate(_Strict):
    code: str = Field(min_length=21, max_length=21)
    name: str = Field(min_length=1, max_length=100)
    defining_authority_name: str = Field(min_length=1, max_length=100)
    holder_kind: str = Field(description="natural / legal")
    fields: list[FieldCreate] = Field(min_length=1, max_length=30)
    validity: str = Field(description="years / long_term / given")
    validity_years: int = Field(default=0, ge=0, le=50)
    template: str = Field(default="standard-a4", max_length=40)
    number_prefix: str = Field(default="", max_length=8, pattern=r"^[A-Z]*$")


class LicenceCreate(_Strict):
    type_code: str = Field(min_length=21, max_length=21)
    holder_name: str = Field(min_length=1, max_length=100)
    holder_code: str = Field(
        min_length=1, max_length=40, description="公民身份号码或统一社会信用代码"
    )
    fields: dict[str, str | int] = Field(default_factory=dict, max_length=40)
    valid_from: date | None = None
    valid_until: date | None = None
    licence_number: str | None = Field(default=None, max_length=64)
    area_code: str | None = Field(default=None, max_length=6)
    organisation_id: str | None = Field(default=None, max_length=40)
    idempotency_key: str | None = Field(default=None, max_length=128)


class LicenceRead(BaseModel):
    id: str
    identifier: str
    version: int
    type_code: str
    licence_name: str
    licence_number: str
    issuer_org_id: str
    issuer_code: str
    issuer_name: str
    holder_name: str
    holder_type_code: str
    holder_code_masked: str
    fields: dict[str, str]
    issued_on: date
    valid_from: date
    valid_until: date | None
    status: str
    status_zh: str
    status_reason: str | None
    status_changed_at: str
    superseded_by: str | None
    predecessor: str | None
    document_sm3: str
    qr_payload: str
    printed_qr: str
    created_at: str
    created_by: str
    status_list_id: str = Field(description="状态列表标识（仅认证接口提供）")
    status_index: int = Field(description="在状态列表中的随机位置")


class LicenceIssuedRead(BaseModel):
    id: str
    identifier: str
    verification_code: str | None = Field(
        description="核验码（仅签发时返回一次；幂等重放时为 null）"
    )
    qr_payload: str = Field(description="EL1: 形式，含盖章后 PDF 的 SM3")
    qr_url: str = Field(description="印在证照上的 URL 形式")
    document_sm3: str
    status: str
    replayed: bool
    licence: LicenceRead


class LicencePage(BaseModel):
    items: list[LicenceRead]
    total: int


class StatusChange(_Strict):
    reason: str = Field(min_length=1, max_length=500)


class LicenceChange(_Strict):
    reason: str = Field(min_length=1, max_length=500)
    holder_name: str | None = Field(default=None, max_length=100)
    fields: dict[str, str | int] | None = Field(default=None, max_length=40)
    valid_from: date | None = Field(default=None, description="不填则保留原有效期起")
    valid_until: date | None = Field(default=None, description="不填则保留原有效期止")
    licence_number: str | None = Field(default=None, max_length=64)

    def changes(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "holder_name": self.holder_name,
                "fields": self.fields,
                "valid_from": self.valid_from,
                "valid_until": self.valid_until,
                "licence_number": self.licence_number,
            }.items()
            if v is not None
        }


class CodeVerify(_Strict):
    code: str = Field(min_length=1, max_length=64, description="核验码（大小写、空格、连字符均可）")


class QrVerify(_Strict):
    payload: str = Field(min_length=1, max_length=4400, description="EL1:… 或 HTTPS://…/E#…")


class MinimalViewRead(BaseModel):
    licence_name: str
    issuer_name: str
    valid_from: str
    valid_until: str | None
    holder_name: str = Field(description="脱敏后的持证主体名称")


class VerificationRead(BaseModel):
    result: str = Field(
        description="VALID / SUSPENDED / INVALID / SUPERSEDED / EXPIRED / BAD_SIGNATURE / "
        "UNKNOWN_ISSUER / NOT_FOUND"
    )
    result_zh: str
    reason: str
    channel: str
    checked_at: str
    licence: MinimalViewRead | None
    superseded_by: str | None
    identifier: str | None
    signature_checked: bool
    live_status: bool
    details: dict[str, str]


class TrustAnchorRead(BaseModel):
    kid: str = Field(description="hex")
    public_key: str = Field(description="SM2 公钥，未压缩点 04||x||y 的十六进制")
    public_key_der: str = Field(description="SubjectPublicKeyInfo DER 的 base64")


class StatusListRead(BaseModel):
    id: str = Field(description="状态列表标识")
    issuer_code: str = Field(description="颁证单位统一社会信用代码")
    issuer_name: str
    size: int = Field(description="条目数（每条 2 位）")
    bits: int
    sequence: int = Field(description="每次状态变化加一")
    updated_at: str
    url: str = Field(description="签名文件（COSE_Sign1）的地址")


class ShareCreate(_Strict):
    fields: list[str] = Field(max_length=40)
    purpose: str = Field(min_length=1, max_length=200)
    recipient: str = Field(min_length=1, max_length=128, description="user:… 或 client:…")
    expires_in_hours: int = Field(ge=1, le=168)
    max_uses: int = Field(ge=1, le=100)


class ShareRead(BaseModel):
    id: str
    licence_id: str
    fields: list[str]
    purpose: str
    recipient: str
    expires_at: str
    max_uses: int
    uses: int
    revoked_at: str | None
    created_at: str
    token: str | None = Field(default=None, description="共享码（仅创建时返回一次）")


class ShareRedeem(_Strict):
    token: str = Field(min_length=1, max_length=128)


class ExOfficioLookup(_Strict):
    identifier: str = Field(min_length=1, max_length=128)
    service_item_code: str = Field(min_length=1, max_length=64, description="事项编码")
    case_number: str = Field(min_length=1, max_length=64, description="业务流水号")
    reason: str = Field(min_length=1, max_length=200)
    organisation_id: str | None = Field(
        default=None,
        max_length=40,
        description="以哪个部门的名义查验；在多个部门任职时必填",
    )
