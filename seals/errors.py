"""Errors of the seals capability; every one is a ``trust.errors`` subclass with a stable code.

Reading hostile input (DER, ZIP, XML) raises only these (or other ``TrustError`` subclasses);
a verification that ran and said "no" is a result, not an error (layout.md §4 rule 2).
"""

from __future__ import annotations

from trust.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, PermissionDenied

__all__ = [
    "ApproverIsRequester",
    "BadSealImage",
    "BadSealRequest",
    "BadTransition",
    "DocumentMismatch",
    "DocumentTooLarge",
    "MalformedDer",
    "MalformedSeal",
    "NotAuthorised",
    "OfdError",
    "OfdTooLarge",
    "RequestNotApproved",
    "SealImageTooLarge",
    "SealNotFound",
    "SealNotMade",
    "SealNotUsable",
    "StampRequestNotFound",
    "UnknownFileKind",
    "UnknownSealType",
    "UnsupportedVersion",
]


class MalformedDer(InvalidInput):
    """The bytes are not the DER this reader accepts (truncated, indefinite, too deep, ...)."""

    code = "seal.malformed_der"
    title = "DER 编码无效"


class MalformedSeal(InvalidInput):
    """Well-formed DER that does not have the SESeal / SES_Signature / certificate shape."""

    code = "seal.malformed"
    title = "电子印章结构无效"


class UnsupportedVersion(InvalidInput):
    """A seal or seal signature of a version this service does not know (eseal spec §3.4)."""

    code = "seal.unsupported_version"
    title = "不支持的电子印章版本"


class OfdError(InvalidInput):
    """The OFD package or one of its XML files is unusable (or hostile)."""

    code = "ofd.malformed"
    title = "OFD 文件无效"


class OfdTooLarge(PayloadTooLarge):
    """An OFD package exceeds a size, entry-count or compression-ratio limit."""

    code = "ofd.too_large"
    title = "OFD 文件过大"


# --------------------------------------------------------------------------- registry, stamping
# (issue 4: seal registry and lifecycle, stamping with who-may-stamp, verification service)


class SealNotFound(NotFound):
    code = "seal.not_found"
    title = "印章不存在"


class StampRequestNotFound(NotFound):
    code = "seal.request_not_found"
    title = "用印申请不存在"


class UnknownSealType(InvalidInput):
    code = "seal.unknown_type"
    title = "未知的印章类型"


class BadSealRequest(InvalidInput):
    """A field of a seal application or a stamping request is unusable."""

    code = "seal.invalid_request"
    title = "印章请求无效"


class BadSealImage(InvalidInput):
    code = "seal.bad_image"
    title = "印章图片无效"


class SealImageTooLarge(PayloadTooLarge):
    code = "seal.image_too_large"
    title = "印章图片过大"


class DocumentTooLarge(PayloadTooLarge):
    code = "seal.document_too_large"
    title = "文件过大"


class UnknownFileKind(InvalidInput):
    """Verification was given bytes that are none of SESeal, SES_Signature, PDF or OFD."""

    code = "seal.unknown_file_kind"
    title = "无法识别的文件类型"


class BadTransition(Conflict):
    """The lifecycle action is not allowed from the seal's current state."""

    code = "seal.bad_transition"
    title = "印章状态不允许此操作"


class SealNotUsable(Conflict):
    """The seal may not stamp now; ``code`` says why: ``seal.not_active``, ``seal.suspended``,
    ``seal.revoked``, ``seal.expired``, ``seal.not_yet_valid``."""

    code = "seal.not_active"
    title = "印章当前不可用"


class SealNotMade(Conflict):
    code = "seal.not_made"
    title = "印章尚未制作"


class NotAuthorised(PermissionDenied):
    """The principal holds no role that allows this on this seal (``seal.not_authorised`` to
    stamp, ``seal.not_custodian`` to manage or approve, ``seal.not_requester`` to execute)."""

    code = "seal.not_authorised"
    title = "无权使用此印章"


class ApproverIsRequester(PermissionDenied):
    code = "seal.approver_is_requester"
    title = "申请人不能审批自己的用印申请"


class RequestNotApproved(Conflict):
    """The stamping request is not (or no longer) in a state that allows this step."""

    code = "seal.request_not_approved"
    title = "用印申请尚未批准"


class DocumentMismatch(Conflict):
    """The document given at execution is not the one whose SM3 was approved."""

    code = "seal.document_mismatch"
    title = "文件与审批时不一致"
