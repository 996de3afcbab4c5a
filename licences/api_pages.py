"""Chinese pages of the licences capability and the edge helpers the JSON API shares.

* ``GET /licences/verify`` and ``GET /E`` — the public verify page: a 核验码 form, a PDF upload
  form, and (``/E#<Base32>``, the URL printed in the QR) the in-browser offline check of the EL1
  signature against the signed trust list (``/static/licences-verify.js``; the fragment never
  reaches the server) with an explicit live-status button. ``POST /licences/verify/page``
  answers the two forms. Rate-limited like the API.
* the holder's page ``GET /licences/mine`` is in ``licences.api_holder``.
* ``GET /licences/manage`` and ``GET /licences/manage/{ref}`` — the issuer's licence list and
  detail (staff session cookie of the interim staff login, ``/staff/login``), with lifecycle
  actions as CSRF-protected forms (``POST /licences/manage/{ref}/action``).

Edge helpers: ``licence_config`` (built once per app from the settings) and its dependency
``LicenceConfigDep``; the rate limits of verification are in ``licences.api_limits``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

import trust.web
from licences import service, service_lifecycle, service_share, service_trust, service_verify
from licences.api_limits import count_verification, verifier_of
from licences.envelope import CHINA_TZ
from licences.lifecycle import STATE_ZH, LicenceAction, LicenceState
from licences.service_keys import LicenceConfig, config_from_settings
from licences.verification import RESULT_ZH, VerificationResult
from seals.api_pages import STAFF_COOKIE, csrf_for
from trust import __version__
from trust.crypto import constant_time_equal
from trust.errors import InvalidInput, PermissionDenied, RateLimited, TrustError, Unauthenticated
from trust.principals.principal import Principal, PrincipalKind
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep
from trust.web.security import authenticate_header

__all__ = [
    "LicenceConfigDep",
    "licence_config",
    "render_page",
    "router",
]

_MAX_UPLOAD: Final = 20 * 1024 * 1024
_TEMPLATES: Final = Path(trust.web.__file__).resolve().parent / "templates"
_ACTIONS: Final = {
    LicenceState.ISSUED: (
        (LicenceAction.SUSPEND, "暂扣"),
        (LicenceAction.REVOKE, "撤销"),
        (LicenceAction.REVOKE_PENALTY, "吊销"),
        (LicenceAction.WITHDRAW, "撤回"),
        (LicenceAction.ANNUL, "注销"),
    ),
    LicenceState.SUSPENDED: (
        (LicenceAction.RESUME, "发还（恢复）"),
        (LicenceAction.REVOKE, "撤销"),
        (LicenceAction.REVOKE_PENALTY, "吊销"),
        (LicenceAction.ANNUL, "注销"),
    ),
}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(_TEMPLATES))
RESULT_ZH_BY_VALUE: Final = {r.value: z for r, z in RESULT_ZH.items()}
templates.env.globals.update(result_zh=RESULT_ZH_BY_VALUE)
templates.env.globals.update(state_zh={s.value: z for s, z in STATE_ZH.items()})


# --------------------------------------------------------------------------- edge helpers


def licence_config(request: Request) -> LicenceConfig:
    state = request.app.state
    config = getattr(state, "licences_config", None)
    if not isinstance(config, LicenceConfig):
        config = config_from_settings(state.settings)
        state.licences_config = config
    return config


async def _licence_config(request: Request) -> LicenceConfig:
    return licence_config(request)  # async: no thread-pool hop for a cached attribute


LicenceConfigDep = Annotated[LicenceConfig, Depends(_licence_config)]


def render_page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("version", __version__)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


# --------------------------------------------------------------------------- verify page


def _verify_page(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    *,
    result: VerificationResult | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    anchor = service_trust.trust_anchor(session=session, keystore=keystore)
    published = service_trust.current_trust_list(session=session, clock=clock, keystore=keystore)
    return render_page(
        request,
        "licences/verify.html",
        status_code,
        anchor=None if anchor is None else anchor.public_key.point.hex(),
        anchor_kid=None if anchor is None else anchor.kid.hex(),
        trust_list=None
        if published is None
        else {
            "sequence": published.sequence,
            "issued_at": _china_time(published.issued_at),
            "expires_at": _china_time(published.expires_at),
        },
        result=None if result is None else result.to_dict(),
        error=error,
    )


def _china_time(at: datetime) -> str:
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


@router.get("/licences/verify", response_class=HTMLResponse)
def verify_page(
    request: Request, session: SessionDep, clock: ClockDep, keystore: KeyStoreDep
) -> Response:
    return _verify_page(request, session, clock, keystore)


@router.get("/E", response_class=HTMLResponse)
def verify_fragment_page(
    request: Request, session: SessionDep, clock: ClockDep, keystore: KeyStoreDep
) -> Response:
    """The landing page of the printed QR URL; the fragment is read by the page's script."""
    return _verify_page(request, session, clock, keystore)


async def _page_input(request: Request) -> tuple[str | None, bytes | None]:
    try:
        form = await request.form(max_files=1, max_fields=5, max_part_size=_MAX_UPLOAD)
    except Exception as exc:  # python-multipart / starlette: malformed or over the limits
        raise InvalidInput("无法读取表单", code="licence.request.form") from exc
    try:
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(_MAX_UPLOAD + 1)
            if len(data) > _MAX_UPLOAD:
                raise InvalidInput("文件过大", code="licence.request.too_large")
            return None, bytes(data)
        code = form.get("code")
        return (code if isinstance(code, str) else None), None
    finally:
        await form.close()


@router.post("/licences/verify/page", response_class=HTMLResponse)
async def verify_page_post(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    config: LicenceConfigDep,
) -> Response:
    try:
        await count_verification(request, None)  # before the session does any work
    except RateLimited as exc:
        # A person at a browser gets the page in Chinese (429), not a problem+json body.
        response = _verify_page(
            request, session, clock, keystore, error=exc.detail, status_code=429
        )
        response.headers["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return response
    who = verifier_of(request, None)
    try:
        code, data = await _page_input(request)
        if data is not None:
            result = await run_in_threadpool(
                service_verify.verify_pdf, session=session, clock=clock, data=data, who=who
            )
        else:
            result = service_verify.verify_code(
                session=session, clock=clock, config=config, raw_code=code or "", who=who
            )
    except TrustError as exc:
        if exc.http_status >= 500:
            raise
        return _verify_page(
            request, session, clock, keystore, error=exc.detail, status_code=exc.http_status
        )
    return _verify_page(request, session, clock, keystore, result=result)


# --------------------------------------------------------------------------- issuer pages


def _staff(request: Request) -> tuple[Principal, str] | None:
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        return None
    try:
        principal = authenticate_header(request, f"Bearer {token}")
    except Unauthenticated:
        return None
    return (principal, token) if principal.kind is PrincipalKind.USER else None


StaffDep = Annotated[tuple[Principal, str] | None, Depends(_staff)]


def _check_csrf(form: FormData, token: str) -> None:
    """A staff form's ``csrf`` field must be the one derived from the session's token."""
    sent = form.get("csrf")
    if not isinstance(sent, str) or not constant_time_equal(
        sent.encode(), csrf_for(token).encode()
    ):
        raise PermissionDenied("表单已过期，请刷新页面后重试", code="licence.csrf")


def _to_login() -> Response:
    return RedirectResponse("/staff/login", status_code=303)


@router.get("/licences/manage", response_class=HTMLResponse)
def manage(request: Request, staff: StaffDep, session: SessionDep) -> Response:
    if staff is None:
        return _to_login()
    principal, _token = staff
    items, total = service.list_licences(session=session, principal=principal, limit=200)
    return render_page(
        request,
        "licences/manage.html",
        principal=principal,
        licences=[r.to_dict() for r in items],
        total=total,
    )


def _detail(
    request: Request,
    session: SessionDep,
    principal: Principal,
    token: str,
    ref: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    record = service.get_licence(session=session, principal=principal, ref=ref)
    return render_page(
        request,
        "licences/detail.html",
        status_code,
        principal=principal,
        licence=record.to_dict(),
        history=service.licence_history(session=session, licence_id=record.id),
        actions=[(a.value, label) for a, label in _ACTIONS.get(record.state, ())],
        csrf=csrf_for(token),
        error=error,
    )


@router.get("/licences/manage/{ref}", response_class=HTMLResponse)
def manage_detail(request: Request, ref: str, staff: StaffDep, session: SessionDep) -> Response:
    if staff is None:
        return _to_login()
    return _detail(request, session, staff[0], staff[1], ref)


@router.get("/licences/manage/{ref}/document.pdf")
def manage_document(ref: str, staff: StaffDep, session: SessionDep) -> Response:
    if staff is None:
        return _to_login()
    record = service.get_licence(session=session, principal=staff[0], ref=ref)
    row = service.load_licence(session, record.id)
    return Response(row.document_pdf, media_type="application/pdf")


@router.post("/licences/manage/{ref}/action", response_class=HTMLResponse)
async def manage_action(
    request: Request, ref: str, staff: StaffDep, session: SessionDep, clock: ClockDep
) -> Response:
    if staff is None:
        return _to_login()
    principal, token = staff
    form = await request.form(max_files=0, max_fields=5)
    _check_csrf(form, token)
    action, reason = form.get("action"), form.get("reason")
    try:
        service_lifecycle.change_status(
            session=session,
            clock=clock,
            principal=principal,
            ref=ref,
            action=str(action or ""),
            reason=str(reason or ""),
        )
    except TrustError as exc:
        if exc.http_status >= 500 or exc.http_status == 404:
            raise
        return _detail(
            request, session, principal, token, ref, error=exc.detail, status_code=exc.http_status
        )
    return RedirectResponse(f"/licences/manage/{ref}", status_code=303)


# --------------------------------------------------------------------------- share recipients

#: Where a named recipient (``user:…``, signed in through the staff login) redeems a share code;
#: systems (``client:…``) use ``POST /licences/shares/redeem``.
SHARE_REDEEM_PAGE: Final = "/licences/shares/redeem/page"
_MAX_SHARE_TOKEN: Final = 128


def _share_page(
    request: Request,
    staff: tuple[Principal, str],
    *,
    redeemed: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    principal, token = staff
    response = render_page(
        request,
        "licences/share_redeem.html",
        status_code,
        principal=principal,
        csrf=csrf_for(token),
        redeemed=redeemed,
        error=error,
    )
    response.headers["Cache-Control"] = "no-store"  # disclosed fields stay out of caches
    return response


@router.get(SHARE_REDEEM_PAGE, response_class=HTMLResponse)
def share_redeem_form(request: Request, staff: StaffDep) -> Response:
    if staff is None:
        return _to_login()
    return _share_page(request, staff)


@router.post(SHARE_REDEEM_PAGE, response_class=HTMLResponse)
async def share_redeem_submit(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    clock: ClockDep,
    config: LicenceConfigDep,
) -> Response:
    """The form's answer: the live result, the minimal view and the granted fields; one use of
    the grant, recorded and shown to the holder. Any refusal is one message (no oracle)."""
    if staff is None:
        return _to_login()
    form = await request.form(max_files=0, max_fields=5)
    _check_csrf(form, staff[1])
    raw = form.get("token")
    share_token = raw.strip() if isinstance(raw, str) else ""
    if not 0 < len(share_token) <= _MAX_SHARE_TOKEN:
        return _share_page(request, staff, error="请输入共享码", status_code=400)
    try:
        redeemed = service_share.redeem_share(
            session=session, clock=clock, config=config, principal=staff[0], token=share_token
        )
    except TrustError as exc:
        if exc.http_status >= 500:
            raise
        return _share_page(request, staff, error=exc.detail, status_code=exc.http_status)
    pdf = redeemed.pop("document_pdf_base64", None)
    redeemed["document_href"] = None if pdf is None else f"data:application/pdf;base64,{pdf}"
    redeemed["result_zh"] = RESULT_ZH_BY_VALUE.get(str(redeemed["result"]), redeemed["result"])
    return _share_page(request, staff, redeemed=redeemed)
