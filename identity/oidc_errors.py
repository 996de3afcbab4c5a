"""Errors of the OpenID Provider. OAuth endpoints (token, introspection, revocation, userinfo)
answer with the RFC 6749 §5.2 / RFC 6750 §3.1 error body, not problem+json: ``OAuthError``
carries the OAuth ``error`` code and is rendered by ``identity.oidc_api``. Other failures
(client administration) are ordinary ``TrustError`` problems."""

from __future__ import annotations

from typing import ClassVar

from trust.errors import Conflict, InvalidInput, NotFound, TrustError, Unauthenticated

__all__ = [
    "ClientNotFound",
    "InvalidClientRegistration",
    "InvalidToken",
    "OAuthError",
    "RedirectUriTaken",
]


class OAuthError(TrustError):
    """An RFC 6749 §5.2 error. ``error`` is the registered code (``invalid_grant`` …)."""

    code = "oidc.oauth_error"
    http_status = 400
    title = "OAuth 错误"
    error: ClassVar[str] = "invalid_request"

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description, code=f"oidc.{error}")
        self.oauth_error = error
        self.status = status


class InvalidToken(Unauthenticated):
    """A bearer token that is malformed, expired, revoked or not ours (RFC 6750 §3.1)."""

    code = "oidc.invalid_token"
    title = "令牌无效"


class ClientNotFound(NotFound):
    code = "oidc.client_not_found"
    title = "客户端不存在"


class InvalidClientRegistration(InvalidInput):
    code = "oidc.invalid_client_metadata"
    title = "客户端登记信息无效"


class RedirectUriTaken(Conflict):
    code = "oidc.client_exists"
    title = "客户端已存在"
