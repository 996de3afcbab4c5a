"""Errors of the principals package; codes are stable (clients branch on them)."""

from __future__ import annotations

from trust.errors import Conflict, NotFound, Unauthenticated

__all__ = [
    "ClientNotFound",
    "InvalidCredentials",
    "LoginTaken",
    "OrganisationNotFound",
    "RoleAlreadyGranted",
    "RoleNotGranted",
    "UsccTaken",
    "UserNotFound",
]


class OrganisationNotFound(NotFound):
    code = "principals.organisation_not_found"
    title = "组织不存在"


class UserNotFound(NotFound):
    code = "principals.user_not_found"
    title = "用户不存在"


class ClientNotFound(NotFound):
    code = "principals.client_not_found"
    title = "应用客户端不存在"


class UsccTaken(Conflict):
    code = "principals.uscc_taken"
    title = "统一社会信用代码已登记"


class LoginTaken(Conflict):
    code = "principals.login_taken"
    title = "登录名已被使用"


class RoleAlreadyGranted(Conflict):
    code = "principals.role_already_granted"
    title = "角色已授予"


class RoleNotGranted(NotFound):
    code = "principals.role_not_granted"
    title = "未授予该角色"


class InvalidCredentials(Unauthenticated):
    """Unknown client, wrong secret, unknown/expired/revoked token, disabled account: one code,
    one message, so that a caller cannot tell which."""

    code = "auth.invalid_credentials"
    title = "凭据无效"

    def __init__(self, detail: str = "凭据无效或已失效") -> None:
        super().__init__(detail)
