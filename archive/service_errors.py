"""Errors of the archive services, with stable codes (rendered as problem+json at the edge)."""

from __future__ import annotations

from trust.errors import Conflict, Misconfigured, NotFound, PermissionDenied, VerificationFailed

__all__ = [
    "ArchiveKeyMissing",
    "DisposalNotAllowed",
    "IngestRefused",
    "PackageNotFound",
    "UploadNotFound",
    "VersionConflict",
]


class IngestRefused(VerificationFailed):
    """The DA/T 70 checks did not pass; nothing was stored. ``extra["failures"]`` lists every
    failed (or blocking unavailable) item; ``extra["report"]`` is the whole report."""

    code = "archive.checks_failed"
    title = "归档检测未通过"


class VersionConflict(Conflict):
    """This case number and version is archived already, from a different submission."""

    code = "archive.version_exists"
    title = "该办件版本已归档且内容不同"


class PackageNotFound(NotFound):
    code = "archive.not_found"
    title = "档案不存在"


class UploadNotFound(NotFound):
    code = "archive.upload_not_found"
    title = "上传不存在"


class DisposalNotAllowed(PermissionDenied):
    code = "archive.disposal_not_allowed"
    title = "不允许销毁"


class ArchiveKeyMissing(Misconfigured):
    code = "archive.key_missing"
    title = "档案签名密钥未配置"
