"""Errors of the archive capability; each subclasses ``trust.errors`` with a stable dotted code.

A check that ran and said "no" is a result (``archive.checks.CheckReport``, ``BagValidation``,
``FixityReport``), not an error (layout.md §4 rule 2). These errors mean an operation could not be
done at all: unreadable input, a refused write, a blob that is not there.
"""

from __future__ import annotations

from trust.errors import (
    Conflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
)

__all__ = [
    "BagMalformed",
    "BlobConflict",
    "BlobCorrupt",
    "BlobNotFound",
    "CaseMetadataInvalid",
    "DigestMismatch",
    "DisposalRefused",
    "FileTooLarge",
    "UnsafePath",
]


class CaseMetadataInvalid(InvalidInput):
    """``case.json`` is not valid against the case schema. ``extra["problems"]`` lists every
    problem found (``{"path", "code", "message"}``), not only the first."""

    code = "archive.case_invalid"
    title = "办件元数据无效"


class UnsafePath(InvalidInput):
    """A file name or bag path that could escape its folder or cannot be stored faithfully."""

    code = "archive.unsafe_path"
    title = "文件路径不安全"


class BagMalformed(InvalidInput):
    """A bag whose required tag files are missing or unreadable, so no validation can run."""

    code = "archive.bag_malformed"
    title = "归档信息包结构无效"


class FileTooLarge(PayloadTooLarge):
    code = "archive.file_too_large"
    title = "文件过大"


class BlobNotFound(NotFound):
    code = "archive.blob_not_found"
    title = "存储对象不存在"


class DigestMismatch(InvalidInput):
    """The bytes streamed in do not hash to the digest the caller said they would."""

    code = "archive.digest_mismatch"
    title = "文件摘要不一致"


class BlobConflict(Conflict):
    """Write-once refused: an object already stored under this address has other bytes."""

    code = "archive.blob_conflict"
    title = "存储对象已存在且内容不同"


class BlobCorrupt(IntegrityFailure):
    """A stored object no longer hashes to its own content address."""

    code = "archive.blob_corrupt"
    title = "存储对象已损坏"


class DisposalRefused(PermissionDenied):
    """Deletion outside the disposal procedure, or a disposal record that is incomplete."""

    code = "archive.disposal_refused"
    title = "不允许销毁"
