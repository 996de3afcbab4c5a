"""HTTP schemas of the archive API (pydantic only at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from archive.service_records import PackageRecord

__all__ = [
    "CaseSubmit",
    "DisposalCreate",
    "DisposalRead",
    "IngestRead",
    "PackagePage",
    "PackageRead",
    "ReceiptCreate",
    "TransferCreate",
    "TransferRead",
    "UploadComplete",
    "UploadCreate",
    "UploadRead",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UploadCreate(_In):
    filename: str = Field(default="case.zip", max_length=255)
    size: int | None = Field(default=None, ge=1, description="全部字节数（可选，上限检查）")


class UploadRead(BaseModel):
    id: str
    filename: str
    received: int
    declared_size: int | None
    state: str
    sm3: str | None


class UploadComplete(_In):
    sm3: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="整个文件的 SM3（十六进制）")
    size: int = Field(ge=1)


class CaseSubmit(_In):
    upload_id: str = Field(max_length=40, description="已完成的上传：办件提交包（zip）")


# The package as the API shows it: the service's own record, validated by pydantic (one field
# list for both; the OpenAPI schema is the same as a model with these fields).
@pydantic_dataclass(frozen=True)
class PackageRead(PackageRecord):
    pass


class IngestRead(BaseModel):
    created: bool
    package: PackageRead
    report: dict[str, Any] | None


class PackagePage(BaseModel):
    total: int = Field(description="匹配的档案数；检索时最多计数到 1000")
    items: list[PackageRead]
    total_capped: bool = Field(
        default=False, description="true：匹配数超过 total（计数到上限即停止）"
    )
    next: str | None = Field(
        default=None, description="下一页游标（作为 after 参数传回）；最后一页为 null"
    )


class DisposalCreate(_In):
    register_number: str = Field(min_length=1, max_length=64, description="销毁清册编号")
    reason: str = Field(min_length=1, max_length=500)


class DisposalRead(BaseModel):
    id: str
    archival_code: str
    register_number: str
    state: str
    proposed_by: str
    approvals: list[str]
    reason: str


class TransferCreate(_In):
    refs: list[str] = Field(min_length=1, max_length=1000)
    receiver: str = Field(min_length=1, max_length=200)


class TransferRead(BaseModel):
    id: str
    receiver: str
    created_by: str
    created_at: datetime
    root_sm3: str = Field(description="移交包 tagmanifest-sm3.txt 的 SM3")
    manifest_sm3: str
    package_count: int
    payload_bytes: int
    location: str
    state: str = Field(description="created / received / rejected")
    log_index: int
    receipt_sm3: str | None
    receipt_check: str | None = Field(
        description="signature.valid / signature.untrusted / signature.absent"
    )
    receipt_signer: str | None
    received_at: datetime | None


class ReceiptCreate(_In):
    receipt: str = Field(
        min_length=2,
        max_length=1_000_000,
        description="回执 JSON 原文（UTF-8）：transfer_id、transfer_root_sm3、manifest_sm3、result",
    )
    signature: str | None = Field(
        default=None,
        max_length=200_000,
        description="对回执原文的 GB/T 35275 SM2 签名（DER，base64），可选",
    )
