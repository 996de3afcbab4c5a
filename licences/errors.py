"""Errors of the licences capability; every one is a ``trust.errors`` subclass with a stable code.

Reading hostile input (identifiers, 核验码, EL1 text, status lists) raises only these; a
verification that ran and said "no" is a result (``EnvelopeVerification``,
``StatusListVerification``), not an error (layout.md §4 rule 2).
"""

from __future__ import annotations

from trust.errors import InvalidInput, Misconfigured, PayloadTooLarge, TrustError

__all__ = [
    "CodeInvalid",
    "EnvelopeMalformed",
    "EnvelopeTooLarge",
    "EnvelopeUnsupported",
    "IdentifierInvalid",
    "LicenceFontUnavailable",
    "LicenceRenderError",
    "PayloadInvalid",
    "SigningFailed",
    "StatusListFull",
    "StatusListInvalid",
    "StatusListTooLarge",
]


class IdentifierInvalid(InvalidInput):
    """Not a GB/T 36904 licence identifier. Instance codes: ``licence.identifier.malformed``
    (segment shapes) and ``licence.identifier.bad_check_char`` (ISO 7064 MOD 37,36)."""

    code = "licence.identifier.invalid"
    title = "电子证照标识无效"


class CodeInvalid(InvalidInput):
    """Not a 核验码. Instance codes: ``licence.code.malformed`` (characters or length) and
    ``licence.code.bad_check_char``."""

    code = "licence.code.invalid"
    title = "核验码无效"


class PayloadInvalid(InvalidInput):
    """Licence payload fields that cannot be put into an EL1 envelope (issuing side)."""

    code = "licence.payload.invalid"
    title = "电子证照核验数据无效"


class EnvelopeMalformed(InvalidInput):
    """EL1 text or its COSE_Sign1 structure does not parse (verifier result ``UNREADABLE``)."""

    code = "licence.envelope.malformed"
    title = "电子证照二维码无法识别"


class EnvelopeUnsupported(InvalidInput):
    """A prefix, URL route or signature algorithm this verifier does not know
    (verifier result ``UNSUPPORTED_VERSION``; elicence spec §9.2, the ``HC1:`` lesson)."""

    code = "licence.envelope.unsupported"
    title = "不支持的电子证照二维码版本"


class EnvelopeTooLarge(PayloadTooLarge):
    """EL1 text, its compressed or its inflated form exceeds a size limit (zip/CBOR bombs)."""

    code = "licence.envelope.too_large"
    title = "电子证照二维码数据过大"


class SigningFailed(TrustError):
    """The signing callable returned something that is not an SM2 signature."""

    code = "licence.signing_failed"
    http_status = 500
    title = "签名失败"


class StatusListInvalid(InvalidInput):
    """A status list, index or status value that breaks the format (elicence spec §9.4)."""

    code = "licence.status.invalid"
    title = "证照状态列表无效"


class StatusListTooLarge(PayloadTooLarge):
    code = "licence.status.too_large"
    title = "证照状态列表过大"


class StatusListFull(TrustError):
    """No free index is left in a status list; the issuer must open a new list."""

    code = "licence.status.full"
    http_status = 409
    title = "证照状态列表已满"


class LicenceRenderError(InvalidInput):
    """The licence document cannot be laid out (text does not fit, bad field values)."""

    code = "licence.render.invalid"
    title = "证照版式生成失败"


class LicenceFontUnavailable(Misconfigured):
    """A configured licence font is missing or cannot be embedded."""

    code = "licence.render.font_unavailable"
    title = "证照字体不可用"
