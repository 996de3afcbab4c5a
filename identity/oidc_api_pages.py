"""The authorisation endpoint and its pages (Chinese, server-rendered, no JavaScript).

``GET|POST /oidc/authorize`` validates the request and either redirects at once (SSO: a live
session and remembered consent, or an error for the verified redirect URI) or sends the browser
to ``/oidc/interaction/{id}``, which shows the step due: login (password, or "扫码登录" with
a QR code when the request does not need more than the app scan's strength), second factor
(TOTP or SMS code, as the account has), organisation choice, consent. Every form carries a CSRF
token bound to the interaction and to this browser's flow cookie (``ywtb_oidc_flow``); the
login form's CSRF token also stops login CSRF. Errors about the client or the redirect URI
are shown on a page and never redirected (RFC 6749 §4.1.2.1).

Scan to log in (``identity.scan_login``): the login page polls
``GET /oidc/interaction/{id}/scan/status?s=<request id>`` (``static/identity-scan.js``; only
this browser's flow cookie reaches the request) and submits
``POST /oidc/interaction/{id}/scan`` once the phone approved (by hand without JavaScript).
The phone's pages are ``identity.scan_login_pages``; the person's own pages
(``/account``...) are ``identity.account_pages``; both are mounted on this router.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

import trust.web
from identity import scan_login
from identity.account_pages import account_pages
from identity.api import get_sms_sender
from identity.assurance import acr_label, acr_rank
from identity.authorize import SCOPE_LABELS
from identity.device import qr_png
from identity.federation import federation_login_link
from identity.oidc_api_support import (
    NO_STORE,
    OidcContextDep,
    client_ip,
    set_cookie,
)
from identity.oidc_model import OidcClient, OidcInteraction
from identity.oidc_service_authorize import (
    Outcome,
    advance,
    begin,
    choose_organisation,
    csrf_token,
    give_consent,
    interaction_for,
    new_flow_cookie,
)
from identity.oidc_service_context import OidcContext
from identity.oidc_service_login import (
    LoginStep,
    submit_password,
    submit_scan_login,
    submit_second_factor,
)
from identity.oidc_service_sessions import (
    FLOW_COOKIE,
    SSO_COOKIE,
    SsoSessionView,
    current_sso_session,
    session_by_sid,
)
from identity.scan_login_pages import scan_pages
from identity.service_auth import AuthPolicy
from identity.sms import SmsSender
from identity.web_session import identity_context
from trust import __version__
from trust.clock import Clock
from trust.web.deps import ClockDep, SessionDep
from trust.web.middleware import CONTENT_SECURITY_POLICY

__all__ = ["pages_router"]

pages_router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(trust.web.__file__).resolve().parent / "templates"))

_STAGE_TEMPLATES: Final = {
    "login": "identity/login.html",
    "second_factor": "identity/second_factor.html",
    "organisation": "identity/organisation.html",
    "consent": "identity/consent.html",
}


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    *,
    redirect_uri: str | None = None,
) -> HTMLResponse:
    context = {"version": __version__, **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(NO_STORE)
    response.headers["X-Frame-Options"] = "DENY"
    if redirect_uri is not None:
        # CSP form-action also governs the redirect that follows a form submission: the
        # verified redirect URI's origin is allowed in addition to 'self' (CSP3 §6.3.2).
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {_csp_source(redirect_uri)}"
        )
    return response


def _csp_source(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"  # RFC 8252 private-use scheme


def _error_page(request: Request, description: str, error: str = "invalid_request") -> Response:
    return _render(
        request, "identity/error.html", {"error": error, "description": description}, 400
    )


def _flow_cookie(request: Request) -> str:
    value = request.cookies.get(FLOW_COOKIE)
    if value and 30 <= len(value) <= 100 and value.replace("-", "").replace("_", "").isalnum():
        return value
    return new_flow_cookie()


def _sso(
    request: Request, session: Session, clock: Clock, ctx: OidcContext, *, touch: bool = True
) -> SsoSessionView | None:
    return current_sso_session(
        session=session,
        clock=clock,
        ctx=ctx,
        cookie_value=request.cookies.get(SSO_COOKIE),
        touch=touch,
    )


def _finish(
    request: Request,
    outcome: Outcome,
    ctx: OidcContext,
    flow: str,
    session: Session,
) -> Response:
    if outcome.stage == "error":
        return _error_page(request, outcome.description or "请求无效", outcome.error or "")
    if outcome.stage == "done":
        assert outcome.redirect is not None
        response: Response = RedirectResponse(outcome.redirect, status_code=303)
    else:
        response = RedirectResponse(f"/oidc/interaction/{outcome.interaction_id}", 303)
    response.headers.update(NO_STORE)
    set_cookie(
        response,
        FLOW_COOKIE,
        flow,
        ctx=ctx,
        path="/oidc",
        max_age=ctx.settings.interaction_seconds,
    )
    return response


async def _pairs(request: Request) -> list[tuple[str, str]]:
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=50)
        pairs += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return pairs


PairsDep = Annotated[list[tuple[str, str]], Depends(_pairs)]


@pages_router.api_route("/oidc/authorize", methods=["GET", "POST"])
def authorize(
    request: Request, pairs: PairsDep, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    """OIDC Core §3.1.2.1; POST with a form body is accepted as well (§3.1.2.1)."""
    flow = _flow_cookie(request)
    sso = _sso(request, session, clock, ctx)
    outcome = begin(session=session, clock=clock, ctx=ctx, pairs=pairs, flow_cookie=flow, sso=sso)
    return _finish(request, outcome, ctx, flow, session)


def _load(
    request: Request,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction_id: str,
    csrf: str | None = None,
) -> OidcInteraction | None:
    return interaction_for(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction_id=interaction_id,
        flow_cookie=request.cookies.get(FLOW_COOKIE),
        csrf=csrf,
    )


_EXPIRED = "登录请求已失效或不属于本浏览器，请回到应用重新登录。"


@pages_router.get("/oidc/interaction/{interaction_id}")
def interaction_page(
    interaction_id: str, request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    ix = _load(request, session, clock, ctx, interaction_id)
    if ix is None:
        return _error_page(request, _EXPIRED, "interaction_expired")
    outcome = advance(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction=ix,
        sso=_sso(request, session, clock, ctx),
    )
    flow = request.cookies.get(FLOW_COOKIE, "")
    if outcome.stage in ("done", "error"):
        return _finish(request, outcome, ctx, flow, session)
    client = session.get(OidcClient, ix.client_id)
    context: dict[str, Any] = {
        "interaction_id": ix.id,
        "csrf": csrf_token(ctx, ix.id, flow),
        "client_name": client.name if client is not None else ix.client_id,
        "data": outcome.data,
        "error": request.query_params.get("e"),
        "scope_labels": SCOPE_LABELS,
    }
    if outcome.stage == "login":
        req = ix.request
        if req.get("required_acr"):
            context["required_acr_label"] = acr_label(req["required_acr"])
        context["scan"] = _scan_panel(request, session, clock, ctx, ix)
        link = federation_login_link(os.environ, interaction_id=ix.id)
        if link is not None:
            context["federation_url"], context["federation_label"] = link.url, link.label
    if outcome.stage == "consent" and ix.sid:
        context["person_sid"] = ix.sid
    return _render(
        request,
        _STAGE_TEMPLATES[outcome.stage],
        context,
        redirect_uri=str(ix.request.get("redirect_uri", "")),
    )


def _scan_panel(
    request: Request, session: Session, clock: Clock, ctx: OidcContext, ix: OidcInteraction
) -> dict[str, Any] | None:
    """The login page's "扫码登录" panel, or ``None`` when the request needs more than an app
    scan can give (a step-up, or a hard minimum above ``urn:ywtb:loa:1``)."""
    required = ix.request.get("required_acr")
    if ix.step_up or (required and acr_rank(required) > 1):
        return None
    shown = scan_login.ensure_scan_login(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction=ix,
        user_agent=request.headers.get("user-agent"),
        client_ip=client_ip(request),
    )
    png = qr_png(shown.url, box_size=5)
    return {
        "id": shown.id,
        "qr": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "size": int.from_bytes(png[16:20], "big"),  # PNG IHDR width (the image is square)
        "match_code": shown.match_code,
        "minutes": scan_login.SCAN_SECONDS // 60,
        "status_url": f"/oidc/interaction/{ix.id}/scan/status?s={shown.id}",
    }


def _back(interaction_id: str, error: str | None = None) -> Response:
    url = f"/oidc/interaction/{interaction_id}"
    if error:
        url += f"?e={quote(error)}"
    response = RedirectResponse(url, status_code=303)
    response.headers.update(NO_STORE)
    return response


def _with_sso(response: Response, step: LoginStep, ctx: OidcContext) -> Response:
    if step.sso_cookie:
        set_cookie(
            response,
            SSO_COOKIE,
            step.sso_cookie,
            ctx=ctx,
            path="/",
            max_age=ctx.settings.session_absolute_seconds,
        )
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(_form)]


def _policy(request: Request) -> AuthPolicy:
    return AuthPolicy.from_config(identity_context(request).config)


@pages_router.post("/oidc/interaction/{interaction_id}/login")
def login_submit(
    interaction_id: str,
    request: Request,
    form: FormDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
    sender: Annotated[SmsSender, Depends(get_sms_sender)],
) -> Response:
    ix = _load(request, session, clock, ctx, interaction_id, form.get("csrf", ""))
    if ix is None:
        return _error_page(request, _EXPIRED, "interaction_expired")
    sso = _sso(request, session, clock, ctx, touch=False)
    ix.sid = sso.sid if sso is not None else None
    step = submit_password(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction=ix,
        login=form.get("login", ""),
        password=form.get("password", ""),
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        sender=sender,
        policy=_policy(request),
    )
    return _with_sso(_back(interaction_id, step.error), step, ctx)


@pages_router.post("/oidc/interaction/{interaction_id}/second-factor")
def second_factor_submit(
    interaction_id: str,
    request: Request,
    form: FormDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
) -> Response:
    ix = _load(request, session, clock, ctx, interaction_id, form.get("csrf", ""))
    if ix is None:
        return _error_page(request, _EXPIRED, "interaction_expired")
    step = submit_second_factor(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction=ix,
        code=form.get("code", ""),
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        policy=_policy(request),
    )
    return _with_sso(_back(interaction_id, step.error), step, ctx)


@pages_router.get("/oidc/interaction/{interaction_id}/scan/status")
def scan_status(
    interaction_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
    s: str = "",
) -> Response:
    """The login page's poll: ``{"status": "pending" | "approved" | "denied" | "consumed" |
    "expired"}`` of one of this interaction's scan requests (flow cookie required)."""
    ix = _load(request, session, clock, ctx, interaction_id)
    if ix is None:
        return JSONResponse({"status": "expired"}, status_code=404, headers=NO_STORE)
    found = scan_login.scan_status(session=session, clock=clock, interaction=ix, scan_id=s)
    return JSONResponse({"status": found}, headers=NO_STORE)


@pages_router.post("/oidc/interaction/{interaction_id}/scan")
def scan_submit(
    interaction_id: str,
    request: Request,
    form: FormDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
) -> Response:
    ix = _load(request, session, clock, ctx, interaction_id, form.get("csrf", ""))
    if ix is None:
        return _error_page(request, _EXPIRED, "interaction_expired")
    sso = _sso(request, session, clock, ctx, touch=False)
    ix.sid = sso.sid if sso is not None else None
    step = submit_scan_login(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction=ix,
        scan_id=form.get("scan_id", ""),
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return _with_sso(_back(interaction_id, step.error), step, ctx)


def _session_of(
    request: Request, session: Session, clock: Clock, ctx: OidcContext, ix: OidcInteraction
) -> SsoSessionView | None:
    if ix.authenticated and ix.sid:
        return session_by_sid(session=session, clock=clock, sid=ix.sid)
    return _sso(request, session, clock, ctx, touch=False)


@pages_router.post("/oidc/interaction/{interaction_id}/organisation")
def organisation_submit(
    interaction_id: str,
    request: Request,
    form: FormDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
) -> Response:
    ix = _load(request, session, clock, ctx, interaction_id, form.get("csrf", ""))
    sso = _session_of(request, session, clock, ctx, ix) if ix is not None else None
    if ix is None or sso is None:
        return _error_page(request, _EXPIRED, "interaction_expired")
    error = choose_organisation(
        session=session, clock=clock, interaction=ix, sso=sso, choice=form.get("org", "")
    )
    return _back(interaction_id, error)


@pages_router.post("/oidc/interaction/{interaction_id}/consent")
def consent_submit(
    interaction_id: str,
    request: Request,
    form: FormDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
) -> Response:
    ix = _load(request, session, clock, ctx, interaction_id, form.get("csrf", ""))
    sso = _session_of(request, session, clock, ctx, ix) if ix is not None else None
    if ix is None or sso is None:
        return _error_page(request, _EXPIRED, "interaction_expired")
    outcome = give_consent(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction=ix,
        sso=sso,
        approve=form.get("decision") == "allow",
    )
    if outcome is not None:
        return _finish(request, outcome, ctx, request.cookies.get(FLOW_COOKIE, ""), session)
    return _back(interaction_id)


pages_router.include_router(scan_pages)
pages_router.include_router(account_pages)
