"""Chinese pages of the archive (server-rendered Jinja2, no JavaScript), for staff holding the
archivist or auditor role, signed in through the staff login of the seals pages (the same
``HttpOnly`` session cookie and CSRF derivation):

* ``GET /archive`` 档案检索: search form (case number, 档号, applicant, service item, 办结 date
  range, metadata text) and the results; a purpose (利用目的) is asked once and carried along;
* ``GET /archive/view/{ref}`` 档案详情: metadata, processing timeline, files (download links),
  every seal's verification status at ingest;
* ``GET /archive/view/{ref}/report`` 四性检测报告 (DA/T 70 items by dimension);
* ``GET /archive/view/{ref}/fixity`` 固定性检查结果, and ``POST`` (CSRF) to run one now.

Every view records the access with its purpose (``archive.retrieval``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

import trust.web
from archive import preservation, retrieval
from archive.retrieval import SearchQuery
from archive.service_records import find_package_row
from archive.service_tools import archive_store, archive_tools
from seals.api_pages import STAFF_COOKIE, csrf_for
from trust import __version__
from trust.crypto import constant_time_equal
from trust.errors import PermissionDenied, TrustError, Unauthenticated
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import Role
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep
from trust.web.security import authenticate_header

__all__ = ["router"]

_TEMPLATES: Final = Path(trust.web.__file__).resolve().parent / "templates"
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(_TEMPLATES))

OUTCOME_ZH: Final = {
    "approved": "准予",
    "partially_approved": "部分准予",
    "refused": "不予",
    "not_accepted": "不予受理",
    "withdrawn": "撤回",
    "terminated": "终止",
}
RESULT_ZH: Final = {
    "pass": "通过",
    "fail": "不通过",
    "not_available": "无法检测",
    "not_applicable": "不适用",
}
VERDICT_ZH: Final = {
    "VALID": "有效",
    "INVALID": "无效",
    "INDETERMINATE": "无法确定",
    "passed": "通过",
    "failed": "不通过",
    "incomplete": "不完整",
}
STATE_ZH: Final = {"changed": "已改变", "missing": "缺失", "extra": "多余", "ok": "完好"}
STATUS_ZH: Final = {"active": "在库", "appraisal": "待鉴定", "disposed": "已销毁"}
RETENTION_ZH: Final = {"Y": "永久", "D30": "30年", "D10": "10年"}
DIMENSIONS: Final = (
    ("authenticity", "真实性"),
    ("integrity", "完整性"),
    ("usability", "可用性"),
    ("security", "安全性"),
)
DEFAULT_PURPOSE: Final = "档案查阅"


def _staff(request: Request) -> Principal | None:
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        return None
    try:
        principal = authenticate_header(request, f"Bearer {token}")
    except Unauthenticated:
        return None
    return principal if principal.kind is PrincipalKind.USER else None


StaffDep = Annotated[Principal | None, Depends(_staff)]


def _allowed(staff: Principal) -> bool:
    return staff.has_role(Role.ARCHIVIST) or staff.has_role(Role.AUDITOR)


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("version", __version__)
    context.update(
        outcome_zh=OUTCOME_ZH,
        result_zh=RESULT_ZH,
        verdict_zh=VERDICT_ZH,
        state_zh=STATE_ZH,
        status_zh=STATUS_ZH,
        retention_zh=RETENTION_ZH,
        dimensions=DIMENSIONS,
        quote=quote,
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _gate(request: Request, staff: Principal | None) -> Response | Principal:
    if staff is None:
        response = RedirectResponse("/staff/login", status_code=303)
        if STAFF_COOKIE in request.cookies:
            response.delete_cookie(STAFF_COOKIE, path="/")
        return response
    if not _allowed(staff):
        return _render(
            request, "archive/error.html", 403, error="需要档案员或审计员角色", staff=staff
        )
    return staff


def _error(request: Request, staff: Principal, exc: TrustError) -> Response:
    if exc.http_status >= 500:
        raise exc
    return _render(
        request,
        "archive/error.html",
        exc.http_status,
        error=f"{exc.detail}（{exc.code}）",
        staff=staff,
    )


def _none_if_blank(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/archive", response_class=HTMLResponse)
def search_page(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    case_number: Annotated[str | None, Query(max_length=64)] = None,
    archival_code: Annotated[str | None, Query(max_length=100)] = None,
    applicant: Annotated[str | None, Query(max_length=200)] = None,
    item: Annotated[str | None, Query(max_length=200)] = None,
    date_from: Annotated[str | None, Query(max_length=10)] = None,
    date_to: Annotated[str | None, Query(max_length=10)] = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    gate = _gate(request, staff)
    if isinstance(gate, Response):
        return gate
    from datetime import date

    def day(value: str | None) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except ValueError:
            return None

    form = {
        "case_number": case_number or "",
        "archival_code": archival_code or "",
        "applicant": applicant or "",
        "item": item or "",
        "date_from": date_from or "",
        "date_to": date_to or "",
        "text": text or "",
        "purpose": purpose or DEFAULT_PURPOSE,
    }
    result = retrieval.search(
        session=session,
        query=SearchQuery(
            case_number=_none_if_blank(case_number),
            archival_code=_none_if_blank(archival_code),
            applicant=_none_if_blank(applicant),
            item=_none_if_blank(item),
            date_from=day(date_from),
            date_to=day(date_to),
            text=_none_if_blank(text),
            limit=50,
        ),
    )
    return _render(request, "archive/search.html", staff=gate, form=form, result=result)


def _view(
    request: Request,
    staff: Principal,
    session: Any,
    clock: Any,
    settings: Any,
    ref: str,
    purpose: str,
) -> Response | retrieval.CaseView:
    try:
        return retrieval.case_view(
            session=session,
            clock=clock,
            store=archive_store(settings),
            ref=ref,
            actor=staff.actor,
            purpose=purpose,
        )
    except TrustError as exc:
        return _error(request, staff, exc)


@router.get("/archive/view/{ref}", response_class=HTMLResponse)
def case_page(
    ref: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    purpose: Annotated[str, Query(max_length=200)] = DEFAULT_PURPOSE,
) -> Response:
    gate = _gate(request, staff)
    if isinstance(gate, Response):
        return gate
    view = _view(request, gate, session, clock, settings, ref, purpose)
    if isinstance(view, Response):
        return view
    return _render(request, "archive/case.html", staff=gate, view=view, purpose=purpose)


@router.get("/archive/view/{ref}/report", response_class=HTMLResponse)
def report_page(
    ref: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    purpose: Annotated[str, Query(max_length=200)] = DEFAULT_PURPOSE,
) -> Response:
    gate = _gate(request, staff)
    if isinstance(gate, Response):
        return gate
    view = _view(request, gate, session, clock, settings, ref, purpose)
    if isinstance(view, Response):
        return view
    return _render(request, "archive/report.html", staff=gate, view=view, purpose=purpose)


@router.get("/archive/view/{ref}/fixity", response_class=HTMLResponse)
def fixity_page(ref: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    gate = _gate(request, staff)
    if isinstance(gate, Response):
        return gate
    try:
        row = find_package_row(session, ref)
    except TrustError as exc:
        return _error(request, gate, exc)
    report = preservation.latest_fixity(session=session, package_id=row.id)
    return _render(
        request,
        "archive/fixity.html",
        staff=gate,
        code=row.archival_code,
        ref=ref,
        report=report,
        csrf=csrf_for(request.cookies.get(STAFF_COOKIE, "")),
    )


@router.post("/archive/view/{ref}/fixity")
async def fixity_run(
    ref: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> Response:
    gate = _gate(request, staff)
    if isinstance(gate, Response):
        return gate
    form = await request.form(max_files=0, max_fields=5)
    given = form.get("csrf")
    token = request.cookies.get(STAFF_COOKIE, "")
    if not isinstance(given, str) or not constant_time_equal(
        csrf_for(token).encode(), given.encode()
    ):
        raise PermissionDenied("表单校验失败，请刷新页面后重试", code="archive.csrf_failed")
    from starlette.concurrency import run_in_threadpool

    def run() -> None:
        tools = archive_tools(session=session, settings=settings)
        preservation.check_package_fixity(
            session=session,
            clock=clock,
            keystore=keystore,
            store=tools.store,
            ref=ref,
            actor=gate.actor,
            timestamps=tools.timestamps,
        )

    try:
        await run_in_threadpool(run)
    except TrustError as exc:
        return _error(request, gate, exc)
    return RedirectResponse(f"/archive/view/{quote(ref)}/fixity", status_code=303)
