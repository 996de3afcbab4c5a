"""RP-Initiated Logout 1.0 at ``/oidc/logout`` (confirmation page; a bounded wait delivers
the session's back-channel logouts before the post-logout redirect) and the sessions page
``/account/sessions`` (end one session or all)."""

from __future__ import annotations

import logging
from typing import Any, Final

import httpx
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from identity.channels_api_support import (
    AppRequest,
    clear_sso,
    csp_allowing,
    current_sso,
    error_page,
    page_form,
    param,
    render_page,
)
from identity.channels_service_logout import (
    deliver_due_logouts,
    end_person_session,
    list_person_sessions,
    log_out_everywhere,
)
from identity.channels_service_rplogout import check_logout_request, form_csrf, form_csrf_ok
from identity.oidc_api_support import (
    OidcContextDep,
    client_ip,
    oidc_context,
)
from identity.oidc_service_context import OidcContext
from identity.oidc_service_resources import published_jwks
from identity.oidc_service_tokens import token_signer
from trust.errors import TrustError
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep

__all__ = ["logout_pages"]

logout_pages = APIRouter(include_in_schema=False)
#: RP-initiated logout waits at most this long per portal, for at most this many portals.
INLINE_DELIVERY_TIMEOUT: Final = 1.0
INLINE_DELIVERY_LIMIT: Final = 5
_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- RP-initiated logout


def _logout(
    request: Request,
    params: dict[str, str],
    *,
    session: Session,
    clock: Any,
    keystore: Any,
    ctx: OidcContext,
    confirming: bool,
) -> tuple[Response, str | None]:
    """RP-Initiated Logout; returns the response and the ``sid`` it ended (if any)."""
    sso = current_sso(request, session, clock, ctx)
    try:
        req = check_logout_request(
            session=session,
            ctx=ctx,
            jwks=published_jwks(session=session, keystore=keystore, clock=clock, ctx=ctx),
            id_token_hint=None if confirming else param(params, "id_token_hint"),
            client_id=param(params, "client_id"),
            post_logout_redirect_uri=param(params, "post_logout_redirect_uri"),
            state=param(params, "state"),
        )
    except TrustError as exc:
        return error_page(request, exc.detail), None
    if sso is not None and not confirming:
        page = render_page(
            request,
            "identity/logout_confirm.html",
            {
                "req": req,
                "csrf": form_csrf(ctx, "logout", sso.sid),
                "client_id": req.client_id or "",
                "post_logout_redirect_uri": param(params, "post_logout_redirect_uri") or "",
                "state": param(params, "state") or "",
            },
        )
        page.headers["Content-Security-Policy"] = csp_allowing(req.redirect_uri)
        return page, None
    ended: str | None = None
    if sso is not None:
        if not form_csrf_ok(ctx, "logout", sso.sid, params.get("csrf")):
            return error_page(request, "表单已过期，请刷新页面后重试", 403), None
        if params.get("decision") != "logout":
            return render_page(request, "identity/logout_done.html", {"stayed": True}), None
        end_person_session(
            session=session,
            clock=clock,
            ctx=ctx,
            person_id=sso.person_id,
            sid=sso.sid,
            reason="rp_logout",
            actor=f"person:{sso.person_id}",
            client_ip=client_ip(request),
        )
        ended = sso.sid
    response: Response
    if req.redirect_uri is not None:
        response = RedirectResponse(req.redirect_uri, status_code=status.HTTP_303_SEE_OTHER)
    else:
        response = render_page(request, "identity/logout_done.html", {"stayed": False})
    clear_sso(response)
    return response, ended


@logout_pages.get("/oidc/logout", response_class=HTMLResponse)
def rp_logout(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    ctx: OidcContextDep,
) -> Response:
    params = dict(request.query_params)
    response, _ended = _logout(
        request, params, session=session, clock=clock, keystore=keystore, ctx=ctx, confirming=False
    )
    return response


def _deliver_now(app: FastAPI, sid: str) -> None:
    """Bounded wait (``INLINE_DELIVERY_*``): try this session's back-channel logouts before the
    post-logout redirect, so that the portals are logged out when the person lands on one
    (the race of ory/hydra#3186). Whatever does not succeed quickly is left to the periodic job."""
    state, clock = app.state, app.state.clock
    try:
        with httpx.Client(timeout=INLINE_DELIVERY_TIMEOUT) as http:
            deliver_due_logouts(
                session_factory=state.session_factory,
                clock=clock,
                issuer=oidc_context(AppRequest(app)).issuer,  # type: ignore[arg-type]
                signer_for=lambda s: token_signer(session=s, clock=clock, keystore=state.keystore),
                http=http,
                limit=INLINE_DELIVERY_LIMIT,
                sid=sid,
            )
    except Exception:  # the rows stay pending for the periodic delivery job
        _log.exception("inline back-channel logout delivery failed")


@logout_pages.post("/oidc/logout", response_class=HTMLResponse)
async def rp_logout_post(
    request: Request, clock: ClockDep, keystore: KeyStoreDep, ctx: OidcContextDep
) -> Response:
    """The confirmation form (and RPs that POST the logout request). Runs its own transaction
    so that the ended session and its outbox rows are committed before the bounded wait."""
    params = await page_form(request)
    factory = request.app.state.session_factory

    def work() -> tuple[Response, str | None]:
        with factory() as session, session.begin():
            return _logout(
                request,
                params,
                session=session,
                clock=clock,
                keystore=keystore,
                ctx=ctx,
                confirming="csrf" in params,
            )

    response, ended = await run_in_threadpool(work)
    if ended is not None:
        await run_in_threadpool(_deliver_now, request.app, ended)
    return response


# --------------------------------------------------------------------------- sessions page


@logout_pages.get("/account/sessions", response_class=HTMLResponse)
def sessions_page(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return render_page(request, "identity/sessions.html", {"sessions": None}, 401)
    rows = list_person_sessions(session=session, clock=clock, person_id=sso.person_id)
    return render_page(
        request,
        "identity/sessions.html",
        {"sessions": rows, "current": sso.sid, "csrf": form_csrf(ctx, "sessions", sso.sid)},
    )


@logout_pages.post("/account/sessions", response_class=HTMLResponse)
async def sessions_end(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    form = await page_form(request)
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return render_page(request, "identity/sessions.html", {"sessions": None}, 401)
    if not form_csrf_ok(ctx, "sessions", sso.sid, form.get("csrf")):
        return error_page(request, "表单已过期，请刷新页面后重试", 403)
    actor = f"person:{sso.person_id}"
    target = form.get("sid", "")
    if target == "all":
        log_out_everywhere(
            session=session,
            clock=clock,
            ctx=ctx,
            person_id=sso.person_id,
            reason="self_all",
            actor=actor,
            client_ip=client_ip(request),
        )
    else:
        try:
            end_person_session(
                session=session,
                clock=clock,
                ctx=ctx,
                person_id=sso.person_id,
                sid=target,
                reason="self",
                actor=actor,
                client_ip=client_ip(request),
            )
        except TrustError as exc:
            return error_page(request, exc.detail, 404)
    response = RedirectResponse("/account/sessions", status_code=status.HTTP_303_SEE_OTHER)
    if target in ("all", sso.sid):
        clear_sso(response)
    return response
