"""Content negotiation for JSON APIs: a request body must be declared as JSON.

FastAPI would parse an ``application/x-www-form-urlencoded`` or ``text/plain`` body as raw bytes
and answer 422; declaring the wrong media type is a 415 (RFC 9110 §15.5.16) with a stable code.
Mount per router: ``APIRouter(dependencies=[JSON_BODY])``.
"""

from __future__ import annotations

from typing import Final

from fastapi import Depends, Request

from trust.errors import InvalidInput

__all__ = ["JSON_BODY", "UnsupportedMediaType", "require_json_body"]

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class UnsupportedMediaType(InvalidInput):
    code = "request.unsupported_media_type"
    http_status = 415
    title = "不支持的内容类型"


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


def require_json_body(request: Request) -> None:
    if request.method not in _BODY_METHODS or not _has_body(request):
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"请求体须为 application/json，收到 {media_type or '未声明的类型'}",
            extra={"accepted": ["application/json"]},
        )


JSON_BODY: Final = Depends(require_json_body)
