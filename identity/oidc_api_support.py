"""Shared pieces of the OIDC HTTP edge: the per-app ``OidcContext``, cookies, OAuth error
bodies (RFC 6749 §5.2, not problem+json), client authentication parsing (RFC 6749 §2.3.1)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Final
from urllib.parse import unquote_plus

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from identity.oidc_errors import OAuthError
from identity.oidc_service_context import OidcContext
from identity.oidc_settings import load_oidc_settings
from identity.web_session import identity_context

__all__ = [
    "NO_STORE",
    "OidcContextDep",
    "client_credentials_of",
    "client_ip",
    "oauth_error",
    "oidc_context",
    "read_form",
    "set_cookie",
]

NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FIELDS: Final = 30


def oidc_context(request: Request) -> OidcContext:
    """Built once per app from its settings (``TRUST_OIDC_*``), kept on ``app.state.oidc``."""
    state = request.app.state
    ctx = getattr(state, "oidc", None)
    if not isinstance(ctx, OidcContext):
        ctx = OidcContext(
            load_oidc_settings(state.settings),
            identity_context(request).keys,
            keystore=state.keystore,
        )
        state.oidc = ctx
    return ctx


OidcContextDep = Annotated[OidcContext, Depends(oidc_context)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oidc"'
    return JSONResponse(
        {"error": exc.oauth_error, "error_description": exc.detail},
        status_code=exc.status,
        headers=headers,
    )


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict; a repeated parameter is an
    ``invalid_request`` (RFC 6749 §3.2), raised as ``OAuthError``."""
    if request.method != "POST":
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "body must be application/x-www-form-urlencoded")
    form = await request.form(max_files=0, max_fields=_MAX_FIELDS)
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if key in out:
            raise OAuthError("invalid_request", f"parameter repeated: {key[:40]}")
        if not isinstance(value, str):
            raise OAuthError("invalid_request", "files are not accepted")
        out[key] = value
    return out


def client_credentials_of(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """``(client_id, client_secret)`` from ``Authorization: Basic`` or the form; both at once
    is refused (RFC 6749 §2.3: "MUST NOT use more than one authentication method")."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "unsupported client authentication", status=401)
        if "client_secret" in form:
            raise OAuthError("invalid_request", "more than one client authentication method")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeError):
            raise OAuthError("invalid_client", "malformed Basic credentials", status=401) from None
        cid, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "malformed Basic credentials", status=401)
        cid, secret = unquote_plus(cid), unquote_plus(secret)
        if "client_id" in form and form["client_id"] != cid:
            raise OAuthError("invalid_request", "client_id differs from the authenticated one")
        return cid, secret
    return form.get("client_id"), form.get("client_secret")


def set_cookie(
    response: Response,
    name: str,
    value: str,
    *,
    ctx: OidcContext,
    path: str,
    max_age: int | None,
) -> None:
    """HttpOnly, SameSite=Lax (top-level redirects from portals carry it), Secure on https."""
    kwargs: dict[str, Any] = {"max_age": max_age} if max_age is not None else {}
    response.set_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        **kwargs,
    )
