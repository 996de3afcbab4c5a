"""Server-rendered pages (Jinja2, Chinese, no JavaScript): the home page with the service status
and links, an API overview rendered from the OpenAPI document, and ``/openapi.yaml`` itself."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from trust import __version__
from trust.jobs.schedule import job_states
from trust.web.openapi_export import export_openapi
from trust.web.status import crypto_backend_name, log_status, readiness

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

_BEIJING: Final = timezone(timedelta(hours=8), "CST")
#: key, name, summary, and the pages people start from (label, path).
_CAPABILITIES: Final = (
    (
        "identity",
        "统一身份认证",
        "OpenID Connect 登录、实名认证等级与单点登出",
        (("我的账户", "/account"), ("登录会话", "/account/sessions")),
    ),
    (
        "seals",
        "电子印章",
        "印章制作、盖章与验章（GB/T 38540）",
        (("验章（任何人）", "/seals/verify"), ("印章管理", "/seals/manage")),
    ),
    (
        "licences",
        "电子证照",
        "证照签发、亮证与核验码查验",
        (
            ("证照核验", "/licences/verify"),
            ("我的证照", "/licences/mine"),
            ("发证管理", "/licences/manage"),
        ),
    ),
    (
        "archive",
        "电子档案",
        "办件归档、四性检测与长期保存",
        (("档案检索", "/archive"),),
    ),
)


@dataclass(frozen=True, slots=True)
class Capability:
    key: str
    name: str
    summary: str
    available: bool
    pages: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class JobLine:
    name: str
    description: str
    every: str
    last: str
    ok: bool | None  # None: not run yet


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    path: str | None  # None: not available yet (建设中)
    method: str = "GET"


def _capabilities() -> list[Capability]:
    return [
        Capability(key, name, summary, importlib.util.find_spec(f"{key}.api") is not None, pages)
        for key, name, summary, pages in _CAPABILITIES
    ]


def _every(seconds: int | None) -> str:
    if seconds is None:
        return "已停用"
    for unit, label in ((86400, "天"), (3600, "小时"), (60, "分钟")):
        if seconds >= unit and seconds % unit == 0:
            return f"每 {seconds // unit} {label}"
    return f"每 {seconds} 秒"


def _jobs(request: Request) -> list[JobLine]:
    """The periodic jobs and their last outcome; empty if the schedule cannot be read."""
    state = request.app.state
    try:
        with state.session_factory() as session:
            states = job_states(
                session, settings=state.settings, clock=state.clock, jobs=state.jobs
            )
    except Exception:  # the status block above already says the database is unavailable
        return []
    lines = []
    for job in states:
        outcome = {"ok": "成功", "failed": "失败", "running": "运行中"}.get(job.last_outcome)
        when = _beijing(job.last_finished_at)
        last = f"{outcome}（{when}）" if outcome and when else (outcome or "尚未运行")
        ok = None if job.last_outcome in ("never", "running") else job.last_outcome == "ok"
        lines.append(JobLine(job.name, job.description, _every(job.every_seconds), last, ok))
    return lines


def _find(schema: dict[str, Any], method: str, *needles: str) -> str | None:
    """The first documented path without parameters that ``method`` serves and that names one of
    ``needles``: links appear as the routers that serve them land."""
    for path, operations in schema.get("paths", {}).items():
        named = any(needle in path.lower() for needle in needles)
        if named and "{" not in path and method.lower() in operations:
            return str(path)
    return None


def _service_links(app: FastAPI) -> list[Link]:
    schema = app.openapi()
    return [
        Link("API 文档", "/docs"),
        Link("OpenAPI 接口描述（openapi.yaml）", "/openapi.yaml"),
        Link("证书撤销列表（CRL）", _find(schema, "GET", "crl")),
        Link("时间戳服务（TSA，RFC 3161）", _find(schema, "POST", "tsa", "timestamp"), "POST"),
        Link("透明日志检查点", _find(schema, "GET", "checkpoint")),
    ]


def _beijing(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    state = request.app.state
    checks = readiness(state.session_factory, state.keystore)
    log = log_status(state.session_factory) if checks["database"].ok else None
    context: dict[str, Any] = {
        "version": __version__,
        "ready": all(c.ok for c in checks.values()),
        "database_ok": checks["database"].ok,
        "keystore_ok": checks["keystore"].ok,
        "crypto_backend": crypto_backend_name(),
        "log": log,
        "log_time": _beijing(log.latest_checkpoint_time) if log else None,
        "capabilities": _capabilities(),
        "links": _service_links(request.app),
        "jobs": _jobs(request),
    }
    return templates.TemplateResponse(request, "index.html", context)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    schema = request.app.openapi()
    groups: dict[str, list[dict[str, str]]] = {}
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            tag = (op.get("tags") or ["其他"])[0]
            groups.setdefault(tag, []).append(
                {"method": method.upper(), "path": path, "summary": op.get("summary", "")}
            )
    context = {"version": __version__, "title": schema["info"]["title"], "groups": groups}
    return templates.TemplateResponse(request, "api_docs.html", context)


@router.get("/openapi.yaml")
def openapi_yaml(request: Request) -> Response:
    return Response(export_openapi(request.app), media_type="application/yaml; charset=utf-8")
