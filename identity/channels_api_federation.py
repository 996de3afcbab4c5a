"""Broker login through the upstream OpenID provider: ``/oidc/federation/start`` and
``/oidc/federation/callback`` (``identity.channels_service_federation``). Configured by
``TRUST_FEDERATION_*`` (``identity.federation.FederationSettings``); 404 when not configured.

``return_to`` names the authorisation request the login serves: an interaction
(``/oidc/interaction/<id>``, the login page's link) or an authorisation URL
(``/oidc/authorize?…``). The start asks the upstream for a fresh authentication when that
request needs one; the callback makes a fresh upstream login the interaction's own login - for
an authorisation URL it first starts the interaction, as the authorisation endpoint would -
so that ``prompt=login``, ``max_age`` and step-up are met instead of showing the login page
again. Only an interaction bound to this browser (flow cookie) is continued. The ``state`` is
bound to the browser by the cookie ``ywtb_fed_state`` (RFC 9700 §4.7.1): a callback URL made
in another browser cannot log this one in.
"""

from __future__ import annotations

import os
from typing import Final

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
    NO_STORE,
    OidcContextDep,
    client_ip,
    set_cookie,
)
from identity.oidc_service_sessions import FLOW_COOKIE, SSO_COOKIE
from trust.crypto import constant_time_equal
from trust.errors import TrustError
from trust.web.deps import ClockDep, SessionDep

__all__ = ["federation_pages"]

federation_pages = APIRouter(include_in_schema=False)

#: Binds a broker login's ``state`` to the browser that started it.
STATE_COOKIE: Final = "ywtb_fed_state"
_STATE_PATH: Final = "/oidc/federation"


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
    target = _safe_return(return_to)
    try:
        with httpx.Client(timeout=10.0) as http:
            discovery = federation_service.discover(http, fed)
        started = federation_service.begin(
            session=session,
            clock=clock,
            fed=fed,
            discovery=discovery,
            redirect_uri=ctx.issuer + federation_service.CALLBACK_PATH,
            return_to=target,
            fresh_login=federation_service.fresh_login_wanted(
                session=session,
                clock=clock,
                ctx=ctx,
                return_to=target,
                flow_cookie=request.cookies.get(FLOW_COOKIE),
            ),
        )
    except TrustError as exc:
        return error_page(request, exc.detail, 502)
    response = RedirectResponse(started.url, status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(
        response,
        STATE_COOKIE,
        started.state,
        ctx=ctx,
        path=_STATE_PATH,
        max_age=federation_service.FLOW_SECONDS,
    )
    return response


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
    bound = request.cookies.get(STATE_COOKIE, "")
    if not constant_time_equal(bound.encode(), state.encode()):
        return error_page(request, "登录请求已失效，请重新登录")
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
    resumed = federation_service.resume(
        session=session,
        clock=clock,
        ctx=ctx,
        login=done,
        flow_cookie=request.cookies.get(FLOW_COOKIE),
    )
    response = RedirectResponse(resumed.redirect, status_code=status.HTTP_303_SEE_OTHER)
    if resumed.flow_cookie is not None:
        set_cookie(
            response,
            FLOW_COOKIE,
            resumed.flow_cookie,
            ctx=ctx,
            path="/oidc",
            max_age=ctx.settings.interaction_seconds,
        )
    set_cookie(
        response,
        SSO_COOKIE,
        done.cookie,
        ctx=ctx,
        path="/",
        max_age=ctx.settings.session_absolute_seconds,
    )
    response.delete_cookie(STATE_COOKIE, path=_STATE_PATH)
    response.headers.update(NO_STORE)
    return response
