"""The phone's half of "扫码登录" (``identity.scan_login``): ``GET /oidc/scan?t=<token>`` (the
URL in the login page's QR code) shows which service and which browser ask, with the matching
code, to a person whose SSO session is live on this phone; ``POST /oidc/scan`` approves or
denies (CSRF token bound to the phone's SSO session). A forged, used or expired token gets a
404 page; without a session, a 401 page that says to log in on the phone first.

The login page's half (the QR code, the status poll, completing the login) is in
``identity.oidc_api_pages``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from identity import scan_login
from identity.oidc_api_support import OidcContextDep, client_ip
from identity.page_support import (
    PageFormDep,
    current_sso,
    form_csrf,
    form_csrf_ok,
    render,
)
from trust.errors import TrustError
from trust.web.deps import ClockDep, SessionDep

__all__ = ["scan_pages"]

scan_pages = APIRouter(include_in_schema=False)
_TEMPLATE = "identity/scan_done.html"


@scan_pages.get(scan_login.SCAN_PATH)
def scan_page(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep, t: str = ""
) -> Response:
    req = scan_login.request_for_phone(session=session, clock=clock, ctx=ctx, unverified_token=t)
    if req is None:
        return render(request, _TEMPLATE, {"outcome": "invalid"}, 404)
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return render(request, _TEMPLATE, {"outcome": "login_required"}, 401)
    return render(
        request,
        "identity/scan_confirm.html",
        {"req": req, "token": t, "csrf": form_csrf(ctx, "scan", sso.sid)},
    )


@scan_pages.post(scan_login.SCAN_PATH)
def scan_decide(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
    form: PageFormDep,
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return render(request, _TEMPLATE, {"outcome": "login_required"}, 401)
    csrf = (form.get("csrf") or [""])[0]
    if not form_csrf_ok(ctx, "scan", sso.sid, csrf):
        expired = {"outcome": "invalid", "description": "表单已过期，请重新扫码。"}
        return render(request, _TEMPLATE, expired, 403)
    try:
        outcome = scan_login.decide(
            session=session,
            clock=clock,
            ctx=ctx,
            unverified_token=(form.get("t") or [""])[0],
            sso=sso,
            approve=(form.get("decision") or [""])[0] == "approve",
            client_ip=client_ip(request),
        )
    except TrustError as exc:
        return render(request, _TEMPLATE, {"outcome": "invalid", "description": exc.detail}, 404)
    return render(request, _TEMPLATE, {"outcome": outcome})
