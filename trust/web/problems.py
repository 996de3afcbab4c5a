"""Errors as RFC 9457 problem details (``application/problem+json``).

Body: ``type`` (``https://ywtb-trust.example/problems/<code>``), ``title``, ``status``,
``detail``, ``code`` (stable, dotted; clients branch on it), ``instance`` (the request path),
``request_id``, plus the error's own extra members. The only place where a ``TrustError`` becomes
an HTTP status. Unexpected exceptions never reach this module: ``trust.web.middleware`` answers
them with a bare 500 problem and logs the traceback under the request id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from trust.errors import RateLimited, TrustError, Unauthenticated

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_SCHEMA",
    "PROBLEM_TYPE_BASE",
    "WWW_AUTHENTICATE",
    "document_problems",
    "install_problem_handlers",
    "problem_for_error",
    "problem_response",
    "problem_responses",
    "request_id_of",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_BASE: Final = "https://ywtb-trust.example/problems/"
#: RFC 9110 §11.6.1 challenges sent with every 401 (one header line each).
WWW_AUTHENTICATE: Final = ('Basic realm="ywtb-trust", charset="UTF-8"', 'Bearer realm="ywtb-trust"')
_RESERVED: Final = frozenset(
    {"type", "title", "status", "detail", "code", "instance", "request_id"}
)

#: Stable codes and Chinese titles for statuses raised by the framework (routing, parsing).
_HTTP_CODES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("request.bad", "请求无效"),
    401: ("unauthenticated", "未认证"),
    403: ("permission_denied", "无权操作"),
    404: ("not_found", "未找到"),
    405: ("method_not_allowed", "不支持该请求方法"),
    406: ("not_acceptable", "无法提供所要求的格式"),
    413: ("payload_too_large", "请求过大"),
    415: ("request.unsupported_media_type", "不支持的内容类型"),
    422: ("request.invalid", "请求参数无效"),
    429: ("rate_limited", "请求过于频繁"),
}


def request_id_of(scope: Scope) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", ""))


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    scope: Scope,
    extra: Mapping[str, Any] | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": scope.get("path", ""),
        "request_id": request_id_of(scope),
    }
    body.update({k: v for k, v in (extra or {}).items() if k not in _RESERVED})
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    response = Response(content=content, status_code=status, media_type=PROBLEM_MEDIA_TYPE)
    for name, value in headers:
        response.headers.append(name, value)
    return response


def problem_for_error(exc: TrustError, scope: Scope) -> Response:
    headers: list[tuple[str, str]] = []
    if isinstance(exc, Unauthenticated):
        headers.extend(("WWW-Authenticate", challenge) for challenge in WWW_AUTHENTICATE)
    retry_after = exc.extra.get("retry_after")
    if isinstance(exc, RateLimited) and isinstance(retry_after, int):
        headers.append(("Retry-After", str(retry_after)))
    return problem_response(
        status=exc.http_status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        scope=scope,
        extra=exc.extra,
        headers=headers,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _http_code(status: int) -> tuple[str, str]:
    return _HTTP_CODES.get(status) or (f"http_{status}", _phrase(status))


async def _on_trust_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TrustError)
    return problem_for_error(exc, request.scope)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, title = _http_code(exc.status_code)
    detail = exc.detail if exc.detail and exc.detail != _phrase(exc.status_code) else title
    headers = list((exc.headers or {}).items())
    if exc.status_code == 401:
        headers.extend(("WWW-Authenticate", challenge) for challenge in WWW_AUTHENTICATE)
    return problem_response(
        status=exc.status_code,
        code=code,
        title=title,
        detail=str(detail),
        scope=request.scope,
        headers=headers,
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # The rejected input is not echoed: it may hold a secret or personal data.
    errors = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]
    return problem_response(
        status=422,
        code="request.invalid",
        title="请求参数无效",
        detail="请求参数未通过校验，详见 errors",
        scope=request.scope,
        extra={"errors": errors},
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TrustError, _on_trust_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)


# --- the OpenAPI side -------------------------------------------------------------------------

PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; further members depend on code.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "instance", "request_id"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable, dotted error code"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "request.invalid only: the fields that failed validation",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
_PROBLEM_REF: Final = "#/components/schemas/Problem"
_FASTAPI_422: Final = ("HTTPValidationError", "ValidationError")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: these statuses answer with a problem."""
    return {
        status: {
            "description": _http_code(status)[1],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
        }
        for status in statuses
    }


def document_problems(schema: dict[str, Any]) -> None:
    """Make the OpenAPI document say what the app does: 422 answers are problems (not FastAPI's
    ``HTTPValidationError``) and every authenticated operation may answer 401. Idempotent."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            extra = [422] if "422" in responses else []
            if operation.get("security") and "401" not in responses:
                extra.append(401)
            responses.update({str(k): v for k, v in problem_responses(*extra).items()})
    text = json.dumps(schema.get("paths", {}))
    if "#/components/schemas/HTTPValidationError" not in text:
        for name in _FASTAPI_422:
            schemas.pop(name, None)
