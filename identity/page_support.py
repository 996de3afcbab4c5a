"""Shared pieces of the person's own pages (``identity.account_pages``,
``identity.scan_login_pages``): rendering, the SSO session of a request, form reading, and the
CSRF token of forms shown to the holder of an SSO session.

CSRF: the same construction as the login forms' token (``identity.oidc_service_authorize.
csrf_token``: HMAC-SM3 under the OIDC CSRF key), bound here to the purpose of the form and the
SSO session's ``sid`` instead of the interaction and flow cookie - a cross-site page cannot
compute it. Checked in constant time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

import trust.web
from identity.oidc_api_support import NO_STORE
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SSO_COOKIE, SsoSessionView, current_sso_session
from trust import __version__
from trust.clock import Clock
from trust.crypto import constant_time_equal, hmac_sm3

__all__ = [
    "ACCOUNT_LOGIN_PATH",
    "BEIJING",
    "PageFormDep",
    "beijing_time",
    "current_sso",
    "form_csrf",
    "form_csrf_ok",
    "login_required",
    "message_page",
    "read_page_form",
    "render",
    "templates",
]

templates: Final = Jinja2Templates(
    directory=str(Path(trust.web.__file__).resolve().parent / "templates")
)
_MAX_FIELDS: Final = 30
_MAX_VALUE: Final = 2000
#: China Standard Time (UTC+8, no daylight saving): how times are shown on these pages.
BEIJING: Final = timezone(timedelta(hours=8), "北京时间")


def beijing_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Jinja filter ``beijing``: an aware UTC time shown in Beijing time."""
    if value is None:
        return "—"
    return value.astimezone(BEIJING).strftime(fmt)


templates.env.filters["beijing"] = beijing_time


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context = {"version": __version__, **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(NO_STORE)
    response.headers["X-Frame-Options"] = "DENY"
    return response


def message_page(
    request: Request, title: str, description: str, status_code: int = 400
) -> HTMLResponse:
    return render(
        request,
        "identity/account_message.html",
        {"title": title, "description": description},
        status_code,
    )


#: The account login entry (``identity.person_session``), linked when the app has it.
ACCOUNT_LOGIN_PATH: Final = "/account/login"


def login_required(request: Request) -> HTMLResponse:
    """401: this browser has no live SSO session. Links to the account login (which returns
    to this page) when the app serves one."""
    login_url: str | None = None
    if any(getattr(r, "path", None) == ACCOUNT_LOGIN_PATH for r in request.app.routes):
        login_url = f"{ACCOUNT_LOGIN_PATH}?{urlencode({'return_to': request.url.path})}"
    return render(request, "identity/account_login.html", {"login_url": login_url}, 401)


def current_sso(
    request: Request, session: Session, clock: Clock, ctx: OidcContext
) -> SsoSessionView | None:
    """The live SSO session of this browser (its idle expiry moves forward), else ``None``."""
    return current_sso_session(
        session=session,
        clock=clock,
        ctx=ctx,
        cookie_value=request.cookies.get(SSO_COOKIE),
        touch=True,
    )


async def read_page_form(request: Request) -> dict[str, list[str]]:
    """A form body as name -> values (checkbox groups repeat a name); values are truncated."""
    form = await request.form(max_files=0, max_fields=_MAX_FIELDS)
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value[:_MAX_VALUE])
    return out


PageFormDep = Annotated[dict[str, list[str]], Depends(read_page_form)]


def form_csrf(ctx: OidcContext, purpose: str, sid: str) -> str:
    return hmac_sm3(ctx.csrf_key, f"account|{purpose}|{sid}".encode()).hex()


def form_csrf_ok(ctx: OidcContext, purpose: str, sid: str, unverified: str | None) -> bool:
    return bool(unverified) and constant_time_equal(form_csrf(ctx, purpose, sid), unverified or "")
