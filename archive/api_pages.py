"""Chinese pages of the archive (server-rendered Jinja2, no JavaScript), for staff holding the
archivist or auditor role, signed in through the staff login of the seals pages (the same
``HttpOnly``, ``SameSite=Strict`` session cookie and CSRF derivation):

* ``GET /archive`` 档案检索: search form (case number, 档号, applicant, service item, 办结 date
  range, metadata text) and the results;
* ``GET /archive/view/{ref}`` 档案详情: metadata, processing timeline, files, every seal's
  verification status at ingest, and download links;
* ``GET /archive/view/{ref}/report`` 四性检测报告 (DA/T 70 items by dimension);
* ``GET /archive/view/{ref}/fixity`` 固定性检查结果, and ``POST`` (CSRF) to run one now;
* ``GET /archive/view/{ref}/files/{path}``, ``/package.zip``, ``/access-copy.zip``: the
  downloads of the case page, with the staff cookie (the API routes take a bearer token only).

Every page that shows or hands out archive content records the access with its purpose
(利用目的, ``archive.retrieval.record_access``): the search (when it runs), each view, the
fixity page and each download. These GETs change the access register, so they are CSRF-safe:
they act only with a link token (``t``) derived from the session - a page of ours puts it into
its links and forms, another site cannot know it. Without it (a bookmark, a link from
elsewhere) the page asks for the purpose first and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import trust.web
from archive import preservation, retrieval
from archive.api_access import (
    CaseAccess,
    access_copy_download,
    case_view,
    file_download,
    package_download,
)
from archive.retrieval import SearchQuery
from archive.search import SUBSTRING_MIN
from archive.service_records import find_package_row
from archive.service_tools import archive_tools
from seals.api_pages import STAFF_COOKIE, StaffDep, csrf_for
from trust import __version__
from trust.clock import Clock
from trust.config import Settings
from trust.crypto import constant_time_equal, sm3
from trust.errors import PermissionDenied, TrustError
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep

__all__ = ["link_token", "router"]

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
Purpose = Annotated[str | None, Query(max_length=200)]
LinkToken = Annotated[str | None, Query(max_length=64)]


def link_token(session_token: str) -> str:
    """The token of the archive's access-recording links for one staff session (not the form
    CSRF token, which never appears in a URL)."""
    return sm3(b"archive-link:" + session_token.encode("utf-8")).hex()[:40]


def _allowed(staff: Principal) -> bool:
    return staff.has_role(Role.ARCHIVIST) or staff.has_role(Role.AUDITOR)


def _our_link(request: Request, t: str | None) -> bool:
    expected = link_token(request.cookies.get(STAFF_COOKIE, ""))
    return t is not None and constant_time_equal(expected.encode(), t.encode())


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
        t=link_token(request.cookies.get(STAFF_COOKIE, "")),
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


def _ask_purpose(request: Request, staff: Principal, purpose: str | None, what: str) -> Response:
    """No access is recorded without our link token and a purpose: ask for them."""
    return _render(
        request,
        "archive/purpose.html",
        staff=staff,
        action=request.url.path,
        purpose=(purpose or DEFAULT_PURPOSE).strip() or DEFAULT_PURPOSE,
        what=what,
    )


def _confirmed(request: Request, t: str | None, purpose: str | None) -> str | None:
    """The purpose when this GET may record an access (our link token and a purpose)."""
    if purpose is None or not purpose.strip() or not _our_link(request, t):
        return None
    return purpose.strip()


def _none_if_blank(value: str | None) -> str | None:
    return value.strip() or None if value else None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- search


@router.get("/archive", response_class=HTMLResponse)
def search_page(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    clock: ClockDep,
    case_number: Annotated[str | None, Query(max_length=64)] = None,
    archival_code: Annotated[str | None, Query(max_length=100)] = None,
    applicant: Annotated[str | None, Query(max_length=200)] = None,
    item: Annotated[str | None, Query(max_length=200)] = None,
    date_from: Annotated[str | None, Query(max_length=10)] = None,
    date_to: Annotated[str | None, Query(max_length=10)] = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[str | None, Query(max_length=60)] = None,
    purpose: Purpose = None,
    t: LinkToken = None,
) -> Response:
    gate = _gate(request, staff)
    if isinstance(gate, Response):
        return gate
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
    confirmed = _confirmed(request, t, purpose)
    page: dict[str, Any] = {"staff": gate, "form": form, "result": None, "min_chars": SUBSTRING_MIN}
    if confirmed is None:  # the empty form: nothing searched, nothing recorded
        return _render(request, "archive/search.html", **page)
    try:  # a refused query (too short, bad cursor) is shown on the form and not recorded
        result = retrieval.search(
            session=session,
            query=SearchQuery(
                case_number=_none_if_blank(case_number),
                archival_code=_none_if_blank(archival_code),
                applicant=_none_if_blank(applicant),
                item=_none_if_blank(item),
                date_from=_day(date_from),
                date_to=_day(date_to),
                text=_none_if_blank(text),
                limit=50,
                after=_none_if_blank(after),
            ),
        )
        retrieval.record_access(
            session=session, clock=clock, actor=gate.actor, action="search", purpose=confirmed
        )
    except TrustError as exc:
        if exc.http_status >= 500:
            raise
        return _render(request, "archive/search.html", 400, **page, error=exc.detail)
    first = urlencode({k: v for k, v in form.items() if v})
    return _render(
        request,
        "archive/search.html",
        **{**page, "result": result},
        first_query=first,
        next_query=f"{first}&{urlencode({'after': result.next})}" if result.next else None,
        paged=bool(after),
    )


# --------------------------------------------------------------------------- case views


@dataclass(frozen=True, slots=True)
class _CaseRequest:
    """A GET of one case's pages (view, report, fixity, downloads), before any check."""

    request: Request
    staff: Principal | None
    session: Session
    clock: Clock
    settings: Settings
    ref: str
    purpose: str | None
    t: str | None


def _case_request(
    ref: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    purpose: Purpose = None,
    t: LinkToken = None,
) -> _CaseRequest:
    return _CaseRequest(request, staff, session, clock, settings, ref, purpose, t)


CaseRequestDep = Annotated[_CaseRequest, Depends(_case_request)]


def _read_case(
    case: _CaseRequest, what: str, answer: Callable[[Principal, CaseAccess], Response]
) -> Response:
    """``answer`` for signed-in staff who came by our link with a purpose (else the purpose is
    asked first and nothing is recorded); a refusal is shown as a page."""
    gate = _gate(case.request, case.staff)
    if isinstance(gate, Response):
        return gate
    confirmed = _confirmed(case.request, case.t, case.purpose)
    if confirmed is None:
        return _ask_purpose(case.request, gate, case.purpose, what)
    access = CaseAccess(
        session=case.session,
        clock=case.clock,
        settings=case.settings,
        ref=case.ref,
        actor=gate.actor,
        purpose=confirmed,
    )
    try:
        return answer(gate, access)
    except TrustError as exc:
        return _error(case.request, gate, exc)


def _case_page(case: _CaseRequest, template: str) -> Response:
    return _read_case(
        case,
        f"查看档案 {case.ref}",
        lambda staff, access: _render(
            case.request, template, staff=staff, view=case_view(access), purpose=access.purpose
        ),
    )


@router.get("/archive/view/{ref}", response_class=HTMLResponse)
def case_page(case: CaseRequestDep) -> Response:
    return _case_page(case, "archive/case.html")


@router.get("/archive/view/{ref}/report", response_class=HTMLResponse)
def report_page(case: CaseRequestDep) -> Response:
    return _case_page(case, "archive/report.html")


# --------------------------------------------------------------------------- downloads


@router.get("/archive/view/{ref}/files/{path:path}")
def download_file_page(case: CaseRequestDep, path: str) -> Response:
    return _read_case(case, "下载", lambda _staff, access: file_download(access, path))


@router.get("/archive/view/{ref}/package.zip")
def download_package_page(case: CaseRequestDep) -> Response:
    return _read_case(case, "下载", lambda _staff, access: package_download(access))


@router.get("/archive/view/{ref}/access-copy.zip")
def download_access_copy_page(case: CaseRequestDep) -> Response:
    return _read_case(case, "下载", lambda _staff, access: access_copy_download(access))


# --------------------------------------------------------------------------- fixity


def _fixity_answer(case: _CaseRequest, staff: Principal, access: CaseAccess) -> Response:
    row = find_package_row(access.session, access.ref)
    retrieval.record_access(
        session=access.session,
        clock=access.clock,
        actor=access.actor,
        action="view_fixity",
        purpose=access.purpose,
        package_id=row.id,
    )
    report = preservation.latest_fixity(session=access.session, package_id=row.id)
    return _render(
        case.request,
        "archive/fixity.html",
        staff=staff,
        code=row.archival_code,
        package_version=row.version,
        ref=access.ref,
        report=report,
        purpose=access.purpose,
        csrf=csrf_for(case.request.cookies.get(STAFF_COOKIE, "")),
    )


@router.get("/archive/view/{ref}/fixity", response_class=HTMLResponse)
def fixity_page(case: CaseRequestDep) -> Response:
    return _read_case(
        case,
        f"查看档案 {case.ref} 的固定性检查结果",
        lambda staff, access: _fixity_answer(case, staff, access),
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
    purpose = form.get("purpose")
    why = purpose.strip() if isinstance(purpose, str) and purpose.strip() else DEFAULT_PURPOSE

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
    query = urlencode({"purpose": why, "t": link_token(token)})
    return RedirectResponse(f"/archive/view/{quote(ref)}/fixity?{query}", status_code=303)
