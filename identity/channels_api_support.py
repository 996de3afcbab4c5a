"""Shared pieces of the channel pages (``identity.channels_api*``): rendering with the
site's CSP adjusted for forms that end in a redirect, the SSO session of a request, form
reading, error pages."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from identity.oidc_api_pages import templates
from identity.oidc_api_support import (
    NO_STORE,
)
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SSO_COOKIE, SsoSessionView, current_sso_session
from trust import __version__
from trust.web.middleware import CONTENT_SECURITY_POLICY

__all__ = [
    "AppRequest",
    "clear_sso",
    "csp_allowing",
    "current_sso",
    "error_page",
    "page_form",
    "param",
    "render_page",
]

_MAX_PARAM: Final = 4096


class AppRequest:
    """``oidc_context`` wants a request; it only reads ``request.app.state``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app


def render_page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context = {"version": __version__, **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(NO_STORE)
    response.headers["X-Frame-Options"] = "DENY"
    return response


def csp_allowing(uri: str | None) -> str:
    """The site's CSP, with ``form-action`` also allowing ``uri``'s origin: browsers apply
    ``form-action`` to the redirect that follows a form POST (CSP Level 3 §6.4.1), so a form
    that ends in a redirect to a portal must allow the portal's origin."""
    if not uri:
        return CONTENT_SECURITY_POLICY
    parts = urlsplit(uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c in origin for c in " ;,'")
    ):
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


def current_sso(
    request: Request, session: Session, clock: Any, ctx: OidcContext
) -> SsoSessionView | None:
    return current_sso_session(
        session=session,
        clock=clock,
        ctx=ctx,
        cookie_value=request.cookies.get(SSO_COOKIE),
        touch=True,
    )


def param(values: dict[str, str], name: str) -> str | None:
    value = values.get(name)
    return value[:_MAX_PARAM] if value else None


async def page_form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def error_page(request: Request, description: str, code: int = 400) -> HTMLResponse:
    return render_page(
        request, "identity/logout_error.html", {"description": description}, status_code=code
    )


def clear_sso(response: Response) -> None:
    response.delete_cookie(SSO_COOKIE, path="/", httponly=True, samesite="lax")
