"""OpenID Connect RP-Initiated Logout 1.0: checking the logout request, and the CSRF token of
the OP's confirmation forms (logout, sessions page, device approval).

* ``id_token_hint`` (§2): must be an ID token we issued - ES256 signature against our JWKS
  (``alg: none`` refused), ``typ`` ``JWT``, our ``iss`` (``identity.tokens.verify_id_token_hint``).
  An *expired* hint is accepted (§4: "the OP SHOULD accept ID Tokens ... even when the exp time
  has passed"). Its ``aud`` names the client; a ``client_id`` parameter must agree with it.
* ``post_logout_redirect_uri`` (§3): honoured only when a client is identified and the URI
  exactly matches one of its registered URIs; otherwise the request is refused (no open
  redirect), not silently redirected elsewhere.
* ``state`` is passed back in the redirect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from identity.logout import post_logout_redirect
from identity.oidc_model import OidcClient
from identity.oidc_service_context import OidcContext
from identity.tokens import IdTokenHintInvalid, verify_id_token_hint
from trust.crypto import constant_time_equal, hmac_sm3
from trust.errors import InvalidInput

__all__ = ["LogoutRequest", "check_logout_request", "form_csrf", "form_csrf_ok"]


class LogoutRequestInvalid(InvalidInput):
    code = "oidc.logout_request_invalid"
    title = "退出登录请求无效"


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    client_id: str | None
    client_name: str | None
    #: Where to go after logout (registered, with ``state``), or ``None``: show our page.
    redirect_uri: str | None
    #: ``sid`` and ``sub`` of a valid hint (to tell whether it names the current session).
    hint_sid: str | None


def check_logout_request(
    *,
    session: Session,
    ctx: OidcContext,
    jwks: Mapping[str, Any],
    id_token_hint: str | None,
    client_id: str | None,
    post_logout_redirect_uri: str | None,
    state: str | None,
) -> LogoutRequest:
    """RP-Initiated Logout §2-§3 checks; ``LogoutRequestInvalid`` when they fail."""
    hint_sid: str | None = None
    if id_token_hint:
        try:
            hint = verify_id_token_hint(
                unverified_token=id_token_hint, jwks=jwks, issuer=ctx.issuer
            )
        except IdTokenHintInvalid as exc:
            raise LogoutRequestInvalid(exc.detail) from None
        if client_id is not None and client_id not in hint.audiences:
            raise LogoutRequestInvalid("client_id 与 id_token_hint 不一致")
        client_id = client_id or hint.audiences[0]
        hint_sid = hint.sid
    client = session.get(OidcClient, client_id) if client_id else None
    if client_id and client is None:
        raise LogoutRequestInvalid("应用不存在")
    redirect: str | None = None
    if post_logout_redirect_uri:
        if client is None:
            raise LogoutRequestInvalid(
                "使用 post_logout_redirect_uri 时须提供 id_token_hint 或 client_id"
            )
        redirect = post_logout_redirect(
            unverified_uri=post_logout_redirect_uri,
            registered=list(client.post_logout_redirect_uris or []),
            state=state,
        )
        if redirect is None:
            raise LogoutRequestInvalid("post_logout_redirect_uri 未登记")
    return LogoutRequest(
        client_id=client.client_id if client else None,
        client_name=client.name if client else None,
        redirect_uri=redirect,
        hint_sid=hint_sid,
    )


def form_csrf(ctx: OidcContext, purpose: str, sid: str) -> str:
    """CSRF token of a form shown to the holder of SSO session ``sid`` (a cross-site page
    cannot compute it: it needs the server key and the session id)."""
    return hmac_sm3(ctx.csrf_key, f"channels|{purpose}|{sid}".encode()).hex()


def form_csrf_ok(ctx: OidcContext, purpose: str, sid: str, unverified: str | None) -> bool:
    return bool(unverified) and constant_time_equal(
        form_csrf(ctx, purpose, sid).encode(), (unverified or "").encode()
    )
