"""RFC 8628 routes: ``POST /oidc/device_authorization`` (client authentication as at the
token endpoint, RFC 6749 error bodies), the kiosk page with the QR code of
``verification_uri_complete`` (``/oidc/device/kiosk``, ``/oidc/device/qr.png``) and the phone
page ``/oidc/device`` where the logged-in person approves or denies ("扫码登录"); wrong user
codes are rate limited (RFC 8628 §5.1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from identity import channels_service_device as device_service
from identity.authorize import SCOPE_LABELS
from identity.channels_api_support import (
    current_sso,
    error_page,
    page_form,
    render_page,
)
from identity.channels_service_rplogout import form_csrf, form_csrf_ok
from identity.device import normalise_user_code, qr_png, verification_uri_complete
from identity.oidc_api_support import (
    NO_STORE,
    OidcContextDep,
    client_credentials_of,
    client_ip,
    oauth_error,
    read_form,
)
from identity.oidc_errors import OAuthError
from identity.oidc_service_clients import authenticate_oauth_client
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SsoSessionView
from trust.errors import TrustError
from trust.web.deps import ClockDep, SessionDep
from trust.web.ratelimit import hit, peek

__all__ = ["device_api", "device_pages"]

device_api = APIRouter(tags=["oidc"])
device_pages = APIRouter(include_in_schema=False)


# --------------------------------------------------------------------------- RFC 8628

#: RFC 8628 §5.1: wrong user codes are rate limited (per SSO session, else per client IP).
USER_CODE_FAILURES: Final = 10
USER_CODE_WINDOW: Final = timedelta(minutes=10)


def _code_key(request: Request, sso: SsoSessionView | None) -> str:
    who = f"sid:{sso.sid}" if sso else f"ip:{client_ip(request) or 'unknown'}"
    return f"identity:device:user_code:{who}"


def _too_many_wrong_codes(
    request: Request, session: Session, clock: Any, sso: SsoSessionView | None
) -> bool:
    decision = peek(
        session=session,
        key=_code_key(request, sso),
        window=USER_CODE_WINDOW,
        limit=USER_CODE_FAILURES,
        now=clock.now(),
    )
    return not decision.allowed


def _wrong_code(request: Request, session: Session, clock: Any, sso: SsoSessionView | None) -> None:
    hit(
        session=session,
        key=_code_key(request, sso),
        window=USER_CODE_WINDOW,
        limit=USER_CODE_FAILURES,
        now=clock.now(),
    )


def _throttled(request: Request, logged_in: bool) -> HTMLResponse:
    return render_page(
        request,
        "identity/device_entry.html",
        {"error": "验证码错误次数过多，请 10 分钟后再试。", "logged_in": logged_in},
        status_code=429,
    )


class DeviceAuthorizationRead(BaseModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


@device_api.post(
    "/oidc/device_authorization",
    summary="设备授权端点（RFC 8628 §3.1，自助终端扫码登录）",
    response_model=DeviceAuthorizationRead,
    responses={400: {"description": "OAuth error"}, 401: {"description": "client auth failed"}},
)
async def device_authorization(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> JSONResponse:
    try:
        # A request with Basic authentication and no parameters may have no body at all.
        empty = "content-type" not in request.headers and not await request.body()
        form = {} if empty else await read_form(request)
        client_id, secret = client_credentials_of(request, form)
        client = authenticate_oauth_client(
            session=session, client_id=client_id, client_secret=secret, allow_public=True
        )
        started = device_service.start(
            session=session, clock=clock, ctx=ctx, client=client, scope=form.get("scope")
        )
    except OAuthError as exc:
        return oauth_error(exc)
    return JSONResponse(started.as_json(), headers=NO_STORE)


def _verification_uri(ctx: OidcContext) -> str:
    return ctx.issuer + device_service.DEVICE_PATH


@device_pages.get("/oidc/device/qr.png")
def device_qr(user_code: str, ctx: OidcContextDep) -> Response:
    """The QR code of ``verification_uri_complete`` for a well-formed user code (encodes only
    what the caller gives; reveals nothing)."""
    code = normalise_user_code(user_code)
    if code is None:
        return Response(status_code=404)
    png = qr_png(verification_uri_complete(_verification_uri(ctx), code))
    return Response(png, media_type="image/png", headers=NO_STORE)


@device_pages.get("/oidc/device/kiosk", response_class=HTMLResponse)
def device_kiosk(request: Request, user_code: str, ctx: OidcContextDep) -> Response:
    code = normalise_user_code(user_code)
    if code is None:
        return error_page(request, "验证码格式不正确", 404)
    return render_page(
        request,
        "identity/device_kiosk.html",
        {
            "user_code": f"{code[:4]}-{code[4:]}",
            "verification_uri": _verification_uri(ctx),
            "qr_src": "/oidc/device/qr.png?" + urlencode({"user_code": code}),
        },
    )


@device_pages.get("/oidc/device", response_class=HTMLResponse)
def device_page(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
    user_code: str | None = None,
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if not user_code:
        return render_page(
            request, "identity/device_entry.html", {"error": None, "logged_in": bool(sso)}
        )
    if _too_many_wrong_codes(request, session, clock, sso):
        return _throttled(request, bool(sso))
    pending = device_service.pending_request(
        session=session, clock=clock, unverified_user_code=user_code
    )
    if pending is None:
        _wrong_code(request, session, clock, sso)
        return render_page(
            request,
            "identity/device_entry.html",
            {"error": "验证码无效或已过期，请核对终端屏幕上的验证码。", "logged_in": bool(sso)},
            status_code=404,
        )
    if sso is None:
        return render_page(
            request, "identity/device_login.html", {"user_code": pending.user_code}, 401
        )
    return render_page(
        request,
        "identity/device_confirm.html",
        {
            "req": pending,
            "scopes": [SCOPE_LABELS.get(s, s) for s in pending.scope],
            "csrf": form_csrf(ctx, "device", sso.sid),
        },
    )


@device_pages.post("/oidc/device", response_class=HTMLResponse)
async def device_decide(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    form = await page_form(request)
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return render_page(request, "identity/device_login.html", {"user_code": ""}, 401)
    if not form_csrf_ok(ctx, "device", sso.sid, form.get("csrf")):
        return error_page(request, "表单已过期，请刷新页面后重试", 403)
    if _too_many_wrong_codes(request, session, clock, sso):
        return _throttled(request, True)
    try:
        result = device_service.decide(
            session=session,
            clock=clock,
            ctx=ctx,
            unverified_user_code=form.get("user_code", ""),
            sso=sso,
            approve=form.get("decision") == "approve",
            client_ip=client_ip(request),
        )
    except TrustError as exc:
        _wrong_code(request, session, clock, sso)
        return render_page(
            request, "identity/device_entry.html", {"error": exc.detail, "logged_in": True}, 404
        )
    return render_page(request, "identity/device_done.html", {"approved": result == "approved"})
