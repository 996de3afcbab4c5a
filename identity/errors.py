"""Errors of the identity package. Codes are stable: clients and the OIDC layer branch on them.

Being *unable* to perform a verification (registry down, malformed answer) is an error;
a verification that was performed and said "no" is a result (``identity.verifiers.base``).
"""

from __future__ import annotations

from trust.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
    VerificationFailed,
)

__all__ = [
    "AccountLocked",
    "AgentAlreadyAuthorised",
    "AssertionRejected",
    "AuthorisationNotFound",
    "ChallengeNotFound",
    "IdNumberTaken",
    "LoginFailed",
    "NotLegalRepresentative",
    "OrganisationNotFound",
    "PersonNotFound",
    "PhoneTaken",
    "RegistryBadResponse",
    "RegistryUnavailable",
    "SecondFactorFailed",
    "UsccTaken",
    "UsernameTaken",
]


class PersonNotFound(NotFound):
    code = "identity.person_not_found"
    title = "账户不存在"


class OrganisationNotFound(NotFound):
    code = "identity.organisation_not_found"
    title = "法人账户不存在"


class AuthorisationNotFound(NotFound):
    code = "identity.authorisation_not_found"
    title = "授权不存在"


class ChallengeNotFound(NotFound):
    code = "identity.challenge_not_found"
    title = "验证请求不存在或已失效"


class IdNumberTaken(Conflict):
    code = "identity.id_number_taken"
    title = "该身份证件已注册"


class PhoneTaken(Conflict):
    code = "identity.phone_taken"
    title = "该手机号已注册"


class UsernameTaken(Conflict):
    code = "identity.username_taken"
    title = "该用户名已被使用"


class UsccTaken(Conflict):
    code = "identity.uscc_taken"
    title = "该统一社会信用代码已注册"


class AgentAlreadyAuthorised(Conflict):
    code = "identity.agent_already_authorised"
    title = "该经办人已有有效授权"


class NotLegalRepresentative(PermissionDenied):
    code = "identity.not_legal_representative"
    title = "仅法定代表人可以授权或撤销经办人"


class LoginFailed(Unauthenticated):
    """Wrong login or password. One message for both: the caller learns nothing about which."""

    code = "identity.login_failed"
    title = "账号或密码错误"


class SecondFactorFailed(Unauthenticated):
    code = "identity.second_factor_failed"
    title = "验证码错误或已失效"


class AccountLocked(RateLimited):
    code = "identity.locked"
    title = "尝试次数过多，请稍后再试"


class AssertionRejected(InvalidInput):
    """A signed assertion (face provider, 网证) was refused; ``code`` names the reason."""

    code = "identity.assertion_rejected"
    http_status = 422
    title = "断言无效"


class RegistryUnavailable(Unavailable):
    """The authoritative source could not be reached or failed: no result, never a pass."""

    code = "identity.registry_unavailable"
    title = "权威核验源暂不可用"


class RegistryBadResponse(VerificationFailed):
    """The authoritative source answered something we cannot interpret: no result."""

    code = "identity.registry_bad_response"
    title = "权威核验源返回了无法识别的结果"
