"""Chinese pages of the seals capability (server-rendered Jinja2, no JavaScript).

* ``GET /seals/verify`` - 验章 for anyone: upload a file (and, for a detached ``.sig``, its
  original); ``POST /seals/verify/page`` shows the report: the verdict in colour and words, each
  signature's seal name and type, organisation, signer, signing time, and every check with its
  outcome and reason in Chinese. Rate-limited like ``POST /seals/verify``.
* ``GET /seals/manage`` and ``GET /seals/manage/{id}`` - 印章管理 for staff: the seals of their
  organisations, lifecycle actions, pending stamping requests (双人用印) and 用章记录.

**Interim staff login** (until the identity capability provides OIDC login): ``/staff/login``
takes a staff API bearer token (``trustctl user token``), checks it through the same counted
authentication path as the API (``trust.web.security``), and stores it in an ``HttpOnly``,
``SameSite=Strict`` cookie (``Secure`` when the public URL is https); ``POST /staff/logout``
clears it. Every staff form carries a CSRF token derived from the session token
(SM3("seals-csrf:" || token), which a cross-site page cannot read); the login form uses a
double-submit cookie. Templates: ``trust/web/templates/seals/``.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import trust.web
from keys.interfaces import KeyStore
from seals import service, service_stamp, service_verify
from seals.api_support import read_upload, verify_rate_limit
from seals.errors import BadSealRequest
from seals.lifecycle import SealStatus
from trust import __version__
from trust.clock import Clock
from trust.config import Settings
from trust.crypto import constant_time_equal, sm3
from trust.errors import PermissionDenied, TrustError, Unauthenticated
from trust.principals.principal import Principal, PrincipalKind
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep

# The one counted authentication path (failure counting, back-off) is reused, not copied.
from trust.web.security import authenticate_header

__all__ = ["STAFF_COOKIE", "StaffDep", "csrf_for", "reason_zh", "router"]

STAFF_COOKIE: Final = "ywtb_staff"
LOGIN_CSRF_COOKIE: Final = "ywtb_login_csrf"
_BEIJING: Final = timezone(timedelta(hours=8), "CST")
_TEMPLATES: Final = Path(trust.web.__file__).resolve().parent / "templates"
_CSS: Final = _TEMPLATES / "seals" / "seals.css"

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(_TEMPLATES))

VERDICT_ZH: Final = {"VALID": "有效", "INVALID": "无效", "INDETERMINATE": "无法确定"}
STATUS_ZH: Final = {
    "pass": "通过",
    "fail": "不通过",
    "not_checked": "未检查",
    "cannot_check": "无法检查",
}
CHECK_ZH: Final = {
    "format": "格式",
    "signer_signature": "签章人签名值",
    "signer_cert_in_seal": "签章人证书与印章绑定",
    "signer_cert_valid_at_signing_time": "签章人证书在签章时有效",
    "signer_cert_trusted": "签章人证书可信（证书链）",
    "seal_signature": "制章者签名值",
    "maker_cert_valid": "制章者证书有效",
    "maker_cert_trusted": "制章者证书可信（证书链）",
    "seal_valid_at_signing_time": "签章时印章在有效期内",
    "seal_valid": "印章在有效期内",
    "timestamp": "时间戳",
    "seal_timestamp": "印章时间戳",
    "document_hash": "原文摘要（SM3）",
    "ofd_references": "OFD 文件内容完整",
    "seal_file": "Seal.esl 与签章内印章一致",
    "coverage": "签名覆盖整个文件",
}
SEAL_STATUS_ZH: Final = {
    "applied": "已申请",
    "made": "已制作",
    "active": "已启用",
    "suspended": "已暂停",
    "revoked": "已注销",
    "expired": "已过期",
}
FORM_ZH: Final = {"bytes": "数据签章", "pdf": "PDF", "ofd": "OFD"}
_REASON_ZH: Final = {
    "ok": "通过",
    "document_modified": "文件在签章后被修改",
    "document.hash_mismatch": "原文摘要不符：文件已被修改或不是所签原文",
    "document.no_original": "未提供原文，无法核对摘要",
    "signature.mismatch": "签名值验证失败",
    "signature.malformed": "签名值格式错误",
    "signature.unsupported_algorithm": "不支持的签名算法",
    "signature.certificate_key_unusable": "证书公钥不可用",
    "signature.unverifiable": "无法验证签名值",
    "seal.signer_cert_not_in_seal": "签章人证书不在印章的证书列表中",
    "seal.create_date_after_valid_end": "制章日期晚于印章有效期结束",
    "seal.time_unknown": "签章时间未知",
    "trust.chain_ok": "证书链可信",
    "trust.no_trusted_anchor": "证书链未连到受信任的根证书（信任未建立）",
    "trust.ca_missing_key_cert_sign": "CA 证书不具备签发证书的用途（keyCertSign）",
    "trust.expired": "证书链中有证书在判断时已过期",
    "trust.not_yet_valid": "证书链中有证书在判断时尚未生效",
    "trust.revoked": "证书已被撤销",
    "trust.bad_signature": "证书签名验证失败",
    "trust.not_a_ca": "上级证书不是 CA 证书",
    "trust.leaf_key_usage": "证书密钥用途不符",
    "trust.leaf_extended_key_usage": "证书扩展密钥用途不符",
    "trust.leaf_is_ca": "签名证书是 CA 证书",
    "trust.malformed_certificate": "证书格式错误",
    "trust.time_unknown": "签章时间未知，无法判断证书链",
    "trust.revocation_unknown": "无法获得证书撤销状态",
    "trust.path_length_exceeded": "证书路径超过长度限制",
    "trust.unsupported_critical_extension": "证书含无法处理的关键扩展",
    "trust.unsupported_algorithm": "证书签名算法不受支持",
    "trust.evaluator_error": "证书链检查出错",
    "timestamp.absent": "无时间戳",
    "timestamp.ok": "时间戳有效",
    "timestamp.no_verifier": "无法验证时间戳",
    "timestamp.no_trusted_anchor": "时间戳证书未连到受信任的根证书",
    "not_applicable": "不适用",
    "format_failed": "格式错误，未检查",
    "format.non_conformant": "格式不符合标准",
    "pdf.whole_file": "签名覆盖整个文件",
    "pdf.later_signatures_only": "签名后仅追加了其他签章",
    "pdf.modified_after_signing": "签名后文件被修改",
    "pdf.byte_range": "签名范围（ByteRange）异常",
    "pdf.no_signatures": "PDF 中没有签章",
    "ofd.no_signatures": "OFD 中没有签章",
    "ofd.not_an_ofd": "不适用（非 OFD）",
    "ofd.no_seal_file": "未附 Seal.esl",
    "ofd.seal_file_differs": "Seal.esl 与签章内印章不一致",
    "ofd.seal_file_missing": "Seal.esl 缺失",
    "ofd.reference_mismatch": "文件内容与签章时不一致（摘要不符）",
    "ofd.reference_missing": "受保护的文件缺失",
    "ofd.no_references": "签章未保护任何文件",
    "ofd.stamp_page_not_covered": "盖章页面未受保护",
    "cert.missing": "未找到签名证书",
    "cert.malformed": "证书格式错误",
    "cert.key_usage_not_signing": "证书不允许签名",
    "cert.unknown_critical_extension": "证书含未知关键扩展",
    "cert.time_unknown": "签章时间未知",
}
_BASIS_ZH: Final = {
    "signing_time": "签章时",
    "create_date": "制章时",
    "given_time": "指定时间",
}
_PROBLEM_ZH: Final = {"expired": "已过期", "not_yet_valid": "尚未生效"}
_PERIOD = re.compile(
    r"(cert|seal)\.(valid|expired|not_yet_valid)_at_(signing_time|create_date|given_time)"
    r"(?:_(expired|not_yet_valid)_now)?"
)


def reason_zh(code: str | None) -> str:
    """The Chinese wording of a verification reason code (the code itself when unknown)."""
    if not code:
        return ""
    if code in _REASON_ZH:
        return _REASON_ZH[code]
    match = _PERIOD.fullmatch(code)
    if match is not None:
        what = "证书" if match.group(1) == "cert" else "印章"
        basis = _BASIS_ZH.get(match.group(3), match.group(3))
        if match.group(2) == "valid":
            text = f"{what}在{basis}处于有效期内"
            now = match.group(4)
            return text + (f"（目前{_PROBLEM_ZH.get(now, now)}）" if now else "")
        return f"{what}在{basis}{_PROBLEM_ZH[match.group(2)]}"
    if code.startswith("trust."):
        return f"证书链检查未通过（{code}）"
    if code.startswith("timestamp."):
        return f"时间戳检查未通过（{code}）"
    return code


def beijing(value: str | datetime | None) -> str:
    """ISO time -> ``YYYY-MM-DD HH:MM:SS`` Beijing time."""
    if value is None or value == "":
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M:%S")
    return when.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["reason_zh"] = reason_zh
templates.env.filters["beijing"] = beijing
templates.env.globals.update(
    verdict_zh=VERDICT_ZH,
    status_zh=STATUS_ZH,
    check_zh=CHECK_ZH,
    seal_status_zh=SEAL_STATUS_ZH,
    form_zh=FORM_ZH,
)


def csrf_for(token: str) -> str:
    return sm3(b"seals-csrf:" + token.encode("utf-8")).hex()[:40]


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("version", __version__)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _secure(request: Request) -> bool:
    base = str(request.app.state.settings.public_base_url)
    return request.url.scheme == "https" or base.startswith("https://")


# --------------------------------------------------------------------------- stylesheet


@router.get("/seals/assets/seals.css")
def stylesheet() -> Response:
    return Response(
        _CSS.read_bytes(),
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


# --------------------------------------------------------------------------- verify page


@router.get("/seals/verify", response_class=HTMLResponse)
def verify_page(request: Request) -> Response:
    return _render(request, "seals/verify.html", report=None, error=None)


@router.post("/seals/verify/page", response_class=HTMLResponse)
async def verify_page_post(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    verify_rate_limit(request)
    try:
        files = await read_upload(request, fields=("file", "original"))
        data, name = files["file"]
        original = files.get("original", (None, None))[0]
        report = await run_in_threadpool(
            service_verify.verify_file,
            data,
            name,
            session=session,
            clock=clock,
            original=original,
        )
    except TrustError as exc:
        if exc.http_status >= 500:
            raise
        return _render(
            request,
            "seals/verify.html",
            status_code=exc.http_status,
            report=None,
            error=f"{exc.detail}（{exc.code}）",
        )
    return _render(request, "seals/verify.html", report=report, error=None)


# --------------------------------------------------------------------------- staff login


def _staff(request: Request) -> Principal | None:
    """The staff member behind the session cookie, or ``None`` (no cookie, or not valid)."""
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        return None
    try:
        principal = authenticate_header(request, f"Bearer {token}")
    except Unauthenticated:
        return None
    return principal if principal.kind is PrincipalKind.USER else None


StaffDep = Annotated[Principal | None, Depends(_staff)]


def _login_page(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = _render(request, "seals/login.html", status_code, csrf=token, error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/staff",
    )
    return response


@router.get("/staff/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/staff/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = _field(form, "csrf")
    if not expected or not constant_time_equal(expected.encode(), given.encode()):
        return _login_page(request, 403, "表单已过期，请重新提交")
    token = _field(form, "token")
    if not token or len(token) > 512:
        return _login_page(request, 400, "请输入 API 令牌")
    try:
        principal = authenticate_header(request, f"Bearer {token}")
    except Unauthenticated:
        return _login_page(request, 401, "令牌无效或已过期")
    if principal.kind is not PrincipalKind.USER:
        return _login_page(request, 401, "请使用员工 API 令牌")
    response = RedirectResponse("/seals/manage", status_code=303)
    response.set_cookie(
        STAFF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff")
    return response


def _check_csrf(request: Request, form: FormData) -> None:
    token = request.cookies.get(STAFF_COOKIE, "")
    given = _field(form, "csrf")
    if not token or not constant_time_equal(csrf_for(token).encode(), given.encode()):
        raise PermissionDenied("表单校验失败，请刷新页面后重试", code="seal.csrf_failed")


@router.post("/staff/logout")
async def logout(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    _check_csrf(request, form)
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response


# --------------------------------------------------------------------------- seal management


def _to_login(request: Request) -> Response:
    """To the login page, dropping a session cookie that no longer authenticates (so that a
    stale cookie does not keep counting authentication failures)."""
    response = RedirectResponse("/staff/login", status_code=303)
    if STAFF_COOKIE in request.cookies:
        response.delete_cookie(STAFF_COOKIE, path="/")
    return response


@router.get("/seals/manage", response_class=HTMLResponse)
def manage(request: Request, staff: StaffDep, session: SessionDep, clock: ClockDep) -> Response:
    if staff is None:
        return _to_login(request)
    seals = service.list_seals(session=session, clock=clock, principal=staff)
    return _render(
        request,
        "seals/manage.html",
        staff=staff,
        seals=seals,
        csrf=csrf_for(request.cookies.get(STAFF_COOKIE, "")),
    )


def _detail(
    request: Request,
    staff: Principal,
    session: Session,
    clock: Clock,
    seal_id: str,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    seal = service.get_seal(session=session, clock=clock, principal=staff, seal_id=seal_id)
    usage: list[service_stamp.UsageRecord] | None
    try:
        usage = service_stamp.usage_history(session=session, principal=staff, seal_id=seal_id)
        pending = service_stamp.list_requests(session=session, principal=staff, seal_id=seal_id)
    except PermissionDenied:
        usage, pending = None, []
    picture = service.seal_picture(session=session, principal=staff, seal_id=seal_id)
    return _render(
        request,
        "seals/seal.html",
        status_code=status_code,
        staff=staff,
        seal=seal,
        usage=usage,
        pending=pending,
        picture=base64.b64encode(picture).decode("ascii"),
        actions=_actions(seal.status),
        csrf=csrf_for(request.cookies.get(STAFF_COOKIE, "")),
        error=error,
    )


def _actions(current: SealStatus) -> list[tuple[str, str]]:
    return {
        SealStatus.APPLIED: [("make", "制作"), ("revoke", "注销")],
        SealStatus.MADE: [("activate", "启用"), ("revoke", "注销")],
        SealStatus.ACTIVE: [("suspend", "暂停"), ("revoke", "注销")],
        SealStatus.SUSPENDED: [("resume", "恢复"), ("revoke", "注销")],
    }.get(current, [])


@router.get("/seals/manage/{seal_id}", response_class=HTMLResponse)
def manage_seal(
    seal_id: str, request: Request, staff: StaffDep, session: SessionDep, clock: ClockDep
) -> Response:
    if staff is None:
        return _to_login(request)
    return _detail(request, staff, session, clock, seal_id)


_LIFECYCLE: Final[dict[str, Any]] = {
    "activate": service.activate_seal,
    "suspend": service.suspend_seal,
    "resume": service.resume_seal,
    "revoke": service.revoke_seal,
}


def _run_action(
    action: str,
    reason: str,
    seal_id: str,
    staff: Principal,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    settings: Settings,
) -> None:
    """One lifecycle action from the management page."""
    if action == "make":
        service.make_seal(
            session=session,
            clock=clock,
            keystore=keystore,
            settings=settings,
            principal=staff,
            seal_id=seal_id,
            reason=reason,
        )
    elif action in _LIFECYCLE:
        _LIFECYCLE[action](
            session=session, clock=clock, principal=staff, seal_id=seal_id, reason=reason
        )
    else:
        raise BadSealRequest(f"未知操作 {action!r}")


@router.post("/seals/manage/{seal_id}/action", response_class=HTMLResponse)
async def manage_action(
    seal_id: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> Response:
    if staff is None:
        return _to_login(request)
    form = await request.form(max_files=0, max_fields=10)
    _check_csrf(request, form)
    action, reason = _field(form, "action"), _field(form, "reason")

    def run() -> None:
        # A savepoint: a refused action leaves nothing behind, and the page can still render.
        with session.begin_nested():
            _run_action(action, reason, seal_id, staff, session, clock, keystore, settings)

    try:
        await run_in_threadpool(run)
    except TrustError as exc:
        if exc.http_status >= 500:
            raise
        return _detail(request, staff, session, clock, seal_id, exc.http_status, exc.detail)
    return RedirectResponse(f"/seals/manage/{seal_id}", status_code=303)


@router.post("/seals/manage/requests/{request_id}/approve", response_class=HTMLResponse)
async def manage_approve(
    request_id: str, request: Request, staff: StaffDep, session: SessionDep, clock: ClockDep
) -> Response:
    if staff is None:
        return _to_login(request)
    form = await request.form(max_files=0, max_fields=5)
    _check_csrf(request, form)
    record = service_stamp.approve_request(
        session=session, clock=clock, principal=staff, request_id=request_id
    )
    return RedirectResponse(f"/seals/manage/{record.seal_id}", status_code=303)
