"""Errors of the certificate authority, each with a stable dotted code."""

from __future__ import annotations

from trust.errors import Conflict, InvalidInput, NotFound, Unavailable

__all__ = [
    "AlreadyRevoked",
    "BadCertificate",
    "BadCrl",
    "BadCsr",
    "BadPublicKey",
    "BadRevocationReason",
    "BadSerial",
    "BadSubject",
    "BadTrustAnchor",
    "BadValidity",
    "CaAlreadyInitialised",
    "CaNotInitialised",
    "CannotRevokeRoot",
    "CertificateNotFound",
    "CsrSignatureInvalid",
    "IssuerKeyMismatch",
    "NotAnIssuer",
    "ProfileNotAllowed",
    "UnknownProfile",
    "UnsupportedAlgorithm",
]


class BadCertificate(InvalidInput):
    code = "ca.bad_certificate"
    title = "证书格式错误"


class BadCrl(InvalidInput):
    code = "ca.bad_crl"
    title = "证书撤销列表格式错误"


class BadCsr(InvalidInput):
    code = "ca.bad_csr"
    title = "证书请求格式错误"


class CsrSignatureInvalid(InvalidInput):
    code = "ca.csr_signature_invalid"
    title = "证书请求签名无效"


class BadPublicKey(InvalidInput):
    code = "ca.bad_public_key"
    title = "公钥无效"


class BadSubject(InvalidInput):
    code = "ca.bad_subject"
    title = "证书主体名称无效"


class UnknownProfile(InvalidInput):
    code = "ca.unknown_profile"
    title = "未知证书模板"


class BadRevocationReason(InvalidInput):
    code = "ca.bad_revocation_reason"
    title = "撤销原因无效"


class BadTrustAnchor(InvalidInput):
    code = "ca.bad_trust_anchor"
    title = "信任锚无效"


class UnsupportedAlgorithm(InvalidInput):
    code = "ca.unsupported_algorithm"
    title = "不支持的算法"


class CertificateNotFound(NotFound):
    code = "ca.certificate_not_found"
    title = "证书不存在"


class CaNotInitialised(Unavailable):
    code = "ca.not_initialised"
    title = "证书颁发机构尚未初始化"


class CaAlreadyInitialised(Conflict):
    code = "ca.already_initialised"
    title = "证书颁发机构已初始化"


class AlreadyRevoked(Conflict):
    code = "ca.already_revoked"
    title = "证书已撤销"


class NotAnIssuer(Conflict):
    code = "ca.not_an_issuer"
    title = "该密钥没有有效的 CA 证书"


class IssuerKeyMismatch(Conflict):
    code = "ca.issuer_key_mismatch"
    title = "签发密钥与 CA 证书不符"


class BadSerial(InvalidInput):
    code = "ca.bad_serial"
    title = "证书序列号格式错误"


class BadValidity(InvalidInput):
    code = "ca.bad_validity"
    title = "证书有效期无效"


class ProfileNotAllowed(InvalidInput):
    code = "ca.profile_not_allowed"
    title = "该证书模板不可用于此操作"


class CannotRevokeRoot(Conflict):
    code = "ca.cannot_revoke_root"
    title = "根证书不能撤销"
