"""Broker login through the upstream OpenID provider: ``/oidc/federation/start`` and
``/oidc/federation/callback`` (``identity.channels_service_federation``). Configured by
``TRUST_FEDERATION_*`` (``identity.federation.FederationSettings``); 404 when not configured."""

from __future__ import annotations

import os

import httpx
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from identity import channels_service_federation as federation_service
from identity.channels_api_support import (
    current_sso,
    error_page,
)
from identity.federation import START_PATH, FederationSettings
from identity.oidc_api_support import (
    OidcContextDep,
    client_ip,
    set_cookie,
)
from identity.oidc_service_sessions import SSO_COOKIE
from trust.errors import TrustError
from trust.web.deps import ClockDep, SessionDep

__all__ = ["federation_pages"]

federation_pages = APIRouter(include_in_schema=False)


# --------------------------------------------------------------------------- federation


def _federation() -> FederationSettings | None:
    return FederationSettings.from_environ(os.environ)


def _safe_return(value: str | None) -> str:
    """Only our own authorisation endpoint, an interaction (login page) or account pages (no
    open redirect)."""
    if not value or len(value) > 2000 or "\\" in value or value.startswith("//"):
        return "/account/sessions"
    if value.startswith(("/oidc/authorize?", "/oidc/interaction/", "/account/")):
        return value
    return "/account/sessions"


@federation_pages.get(START_PATH)
def federation_start(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
    return_to: str | None = None,
) -> Response:
    """Log in through the upstream provider; come back to ``return_to`` (e.g. the portal's
    ``/oidc/authorize?…`` URL, which then finds the new SSO session)."""
    fed = _federation()
    if fed is None:
        return error_page(request, "未配置上级身份平台", 404)
    try:
        with httpx.Client(timeout=10.0) as http:
            discovery = federation_service.discover(http, fed)
        url = federation_service.begin(
            session=session,
            clock=clock,
            fed=fed,
            discovery=discovery,
            redirect_uri=ctx.issuer + federation_service.CALLBACK_PATH,
            return_to=_safe_return(return_to),
        )
    except TrustError as exc:
        return error_page(request, exc.detail, 502)
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@federation_pages.get(federation_service.CALLBACK_PATH)
def federation_callback(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
    state: str = "",
    code: str = "",
    error: str | None = None,
) -> Response:
    fed = _federation()
    if fed is None:
        return error_page(request, "未配置上级身份平台", 404)
    if error or not state or not code or len(state) > 200 or len(code) > 2000:
        return error_page(request, "上级身份平台未完成登录")
    current = current_sso(request, session, clock, ctx)
    try:
        with httpx.Client(timeout=10.0) as http:
            done = federation_service.complete(
                session=session,
                clock=clock,
                ctx=ctx,
                keys=ctx.keys,
                fed=fed,
                http=http,
                state=state,
                code=code,
                redirect_uri=ctx.issuer + federation_service.CALLBACK_PATH,
                current_sid=current.sid if current else None,
                client_ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
    except TrustError as exc:
        return error_page(request, exc.detail, 400 if exc.http_status < 500 else 502)
    response = RedirectResponse(done.return_to, status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(
        response,
        SSO_COOKIE,
        done.cookie,
        ctx=ctx,
        path="/",
        max_age=ctx.settings.session_absolute_seconds,
    )
    return response
