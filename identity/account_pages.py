"""The person's own pages (Chinese, server-rendered, no JavaScript), authenticated by the
browser SSO session (cookie ``ywtb_sso``, as ``/account/sessions``); without one they answer
401 with a page that says how to log in.

* ``GET /account``: 我的账户 (``identity.account_service.account_overview``);
* ``GET /account/agents``, ``POST /account/agents/grant``, ``POST /account/agents/revoke``:
  经办人授权 - a legal representative grants (agent's citizen ID number + name, scopes,
  validity) and revokes; an agent sees the authorisations held. Failed look-ups of an agent are
  rate limited per SSO session (a look-up tells whether a name and number belong to an account);
* ``GET|POST /account/password``: password change; the person's other SSO sessions end, with
  back-channel logout queued for their portals;
* ``GET /account/portals``, ``POST /account/portals/withdraw``: 已授权的网站 - the portals the
  person consented to share data with, and withdrawing that consent
  (``identity.oidc_service_consents``).

Every form carries a CSRF token bound to its purpose and the SSO session
(``identity.page_support.form_csrf``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Final

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from identity import account_service, service_agents
from identity.authorize import SCOPE_LABELS
from identity.oidc_api_support import OidcContextDep, client_ip
from identity.oidc_service_consents import portal_consents, withdraw_portal_consent
from identity.oidc_service_sessions import SsoSessionView
from identity.page_support import (
    BEIJING,
    PageFormDep,
    current_sso,
    form_csrf,
    form_csrf_ok,
    login_required,
    message_page,
    render,
)
from identity.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from identity.scopes import AGENT_SCOPES
from identity.service_auth import AuthPolicy
from identity.web_session import identity_context
from trust.clock import Clock
from trust.errors import InvalidInput, TrustError
from trust.web.deps import ClockDep, SessionDep
from trust.web.ratelimit import hit, peek

__all__ = ["account_pages"]

account_pages = APIRouter(include_in_schema=False)

#: Failed agent look-ups (no account with that number and name) per SSO session.
LOOKUP_FAILURES: Final = 10
LOOKUP_WINDOW: Final = timedelta(minutes=10)
_EXPIRED_FORM: Final = "表单已过期，请刷新页面后重试。"
_DONE: Final = {
    "granted": "已授权经办人。授权已记入透明日志。",
    "revoked": "已撤销该经办人授权。",
}
_WITHDRAWN: Final = (
    "已撤回对该网站的授权：它持有的令牌已全部失效，下次登录该网站时将重新征求您的同意。"
)


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


def _nav(active: str) -> dict[str, Any]:
    return {"nav_active": active}


@account_pages.get("/account")
def account_page(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    overview = account_service.account_overview(
        session=session, clock=clock, person_id=sso.person_id, sso=sso
    )
    return render(request, "identity/account.html", {"a": overview, **_nav("account")})


# --------------------------------------------------------------------------- agents


def _agents_page(
    request: Request,
    session: Session,
    clock: Clock,
    sso: SsoSessionView,
    ctx: Any,
    *,
    error: str | None = None,
    kept: dict[str, list[str]] | None = None,
    code: int = 200,
) -> Response:
    overview = account_service.agents_overview(
        session=session, clock=clock, person_id=sso.person_id
    )
    today = clock.now().astimezone(BEIJING).date()
    kept = kept or {}
    return render(
        request,
        "identity/agents.html",
        {
            "o": overview,
            "csrf": form_csrf(ctx, "agents", sso.sid),
            "scopes": AGENT_SCOPES,
            "error": error,
            "done": _DONE.get(request.query_params.get("done", "")),
            "today": today.isoformat(),
            "default_until": (today + timedelta(days=365)).isoformat(),
            "kept": {
                "legal_person_id": _one(kept, "legal_person_id"),
                "agent_name": _one(kept, "agent_name"),
                "scopes": kept.get("scopes", []),
                "not_before": _one(kept, "not_before"),
                "not_after": _one(kept, "not_after"),
            },
            **_nav("agents"),
        },
        code,
    )


@account_pages.get("/account/agents")
def agents_page(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    return _agents_page(request, session, clock, sso, ctx)


def _day(value: str, *, end: bool) -> datetime | None:
    """A ``YYYY-MM-DD`` date in Beijing time: its start, or (``end``) the start of the next
    day, so that "有效期至 2027-06-30" includes that whole day."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("日期格式应为 年-月-日", code="identity.bad_validity") from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0, 0), tzinfo=BEIJING)


def _lookups_exhausted(session: Session, clock: Clock, sso: SsoSessionView) -> bool:
    decision = peek(
        session=session,
        key=f"identity:agent_lookup:sid:{sso.sid}",
        window=LOOKUP_WINDOW,
        limit=LOOKUP_FAILURES,
        now=clock.now(),
    )
    return not decision.allowed


def _failed_lookup(session: Session, clock: Clock, sso: SsoSessionView) -> None:
    hit(
        session=session,
        key=f"identity:agent_lookup:sid:{sso.sid}",
        window=LOOKUP_WINDOW,
        limit=LOOKUP_FAILURES,
        now=clock.now(),
    )


@account_pages.post("/account/agents/grant")
def agents_grant(
    request: Request, form: PageFormDep, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    if not form_csrf_ok(ctx, "agents", sso.sid, _one(form, "csrf")):
        return message_page(request, "请求无效", _EXPIRED_FORM, 403)
    if _lookups_exhausted(session, clock, sso):
        error = "查找经办人失败次数过多，请 10 分钟后再试。"
        return _agents_page(request, session, clock, sso, ctx, error=error, kept=form, code=429)
    try:
        not_after = _day(_one(form, "not_after"), end=True)
        if not_after is None:
            raise InvalidInput("请填写授权有效期", code="identity.bad_validity")
        with session.begin_nested():
            account_service.grant_agent_by_identity(
                session=session,
                clock=clock,
                keys=identity_context(request).keys,
                legal_person_id=_one(form, "legal_person_id"),
                granted_by=sso.person_id,
                agent_name=_one(form, "agent_name"),
                agent_id_number=_one(form, "agent_id_number"),
                scopes=form.get("scopes", []),
                not_before=_day(_one(form, "not_before"), end=False),
                not_after=not_after,
            )
    except TrustError as exc:
        if exc.code == "identity.person_not_found":
            _failed_lookup(session, clock, sso)
        return _agents_page(
            request, session, clock, sso, ctx, error=exc.detail, kept=form, code=exc.http_status
        )
    return RedirectResponse("/account/agents?done=granted", status_code=status.HTTP_303_SEE_OTHER)


@account_pages.post("/account/agents/revoke")
def agents_revoke(
    request: Request, form: PageFormDep, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    if not form_csrf_ok(ctx, "agents", sso.sid, _one(form, "csrf")):
        return message_page(request, "请求无效", _EXPIRED_FORM, 403)
    try:
        with session.begin_nested():
            service_agents.revoke_agent(
                session=session,
                clock=clock,
                legal_person_id=_one(form, "legal_person_id"),
                authorisation_id=_one(form, "authorisation_id"),
                revoked_by=sso.person_id,
                reason="法定代表人在“经办人授权”页面撤销",
            )
    except TrustError as exc:
        return _agents_page(
            request, session, clock, sso, ctx, error=exc.detail, code=exc.http_status
        )
    return RedirectResponse("/account/agents?done=revoked", status_code=status.HTTP_303_SEE_OTHER)


# --------------------------------------------------------------------------- portals


def _portals_page(
    request: Request,
    session: Session,
    clock: Clock,
    sso: SsoSessionView,
    ctx: Any,
    *,
    done: str | None = None,
    error: str | None = None,
    code: int = 200,
) -> Response:
    portals = portal_consents(session=session, clock=clock, person_id=sso.person_id)
    return render(
        request,
        "identity/portals.html",
        {
            "portals": portals,
            "labels": SCOPE_LABELS,
            "csrf": form_csrf(ctx, "portals", sso.sid),
            "done": done,
            "error": error,
            **_nav("portals"),
        },
        code,
    )


@account_pages.get("/account/portals")
def portals_page(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    done = _WITHDRAWN if request.query_params.get("done") == "withdrawn" else None
    return _portals_page(request, session, clock, sso, ctx, done=done)


@account_pages.post("/account/portals/withdraw")
def portals_withdraw(
    request: Request, form: PageFormDep, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    if not form_csrf_ok(ctx, "portals", sso.sid, _one(form, "csrf")):
        return message_page(request, "请求无效", _EXPIRED_FORM, 403)
    try:
        with session.begin_nested():
            withdraw_portal_consent(
                session=session,
                clock=clock,
                person_id=sso.person_id,
                client_id=_one(form, "client_id"),
                actor=f"person:{sso.person_id}",
                client_ip=client_ip(request),
            )
    except TrustError as exc:
        return _portals_page(
            request, session, clock, sso, ctx, error=exc.detail, code=exc.http_status
        )
    return RedirectResponse(
        "/account/portals?done=withdrawn", status_code=status.HTTP_303_SEE_OTHER
    )


# --------------------------------------------------------------------------- password


def _password_page(
    request: Request,
    sso: SsoSessionView,
    ctx: Any,
    *,
    error: str | None = None,
    ended: int | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "identity/password.html",
        {
            "csrf": form_csrf(ctx, "password", sso.sid),
            "error": error,
            "ended": ended,
            "min_length": MIN_PASSWORD_LENGTH,
            "max_length": MAX_PASSWORD_LENGTH,
            **_nav("password"),
        },
        status_code,
    )


@account_pages.get("/account/password")
def password_page(
    request: Request, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    return _password_page(request, sso, ctx)


@account_pages.post("/account/password")
def password_change(
    request: Request, form: PageFormDep, session: SessionDep, clock: ClockDep, ctx: OidcContextDep
) -> Response:
    sso = current_sso(request, session, clock, ctx)
    if sso is None:
        return login_required(request)
    if not form_csrf_ok(ctx, "password", sso.sid, _one(form, "csrf")):
        return message_page(request, "请求无效", _EXPIRED_FORM, 403)
    new = _one(form, "new_password")
    if new != _one(form, "new_password_again"):
        return _password_page(request, sso, ctx, error="两次输入的新密码不一致", status_code=400)
    policy = AuthPolicy.from_config(identity_context(request).config)
    try:
        with session.begin_nested():
            done = account_service.change_password_and_end_other_sessions(
                session=session,
                clock=clock,
                ctx=ctx,
                sso=sso,
                current_password=_one(form, "current_password"),
                new_password=new,
                lockout=policy.account,
                client_ip=client_ip(request),
            )
    except TrustError as exc:
        return _password_page(request, sso, ctx, error=exc.detail, status_code=exc.http_status)
    if done.reason == "identity.locked":
        error = f"尝试次数过多，请 {done.retry_after_seconds} 秒后再试"
        return _password_page(request, sso, ctx, error=error, status_code=429)
    if not done.ok:
        return _password_page(request, sso, ctx, error="当前密码不正确", status_code=400)
    return _password_page(request, sso, ctx, ended=done.sessions_ended)
