"""Pure ASGI middleware (no ``BaseHTTPMiddleware``, so streamed bodies and responses stay streamed).

``RequestContextMiddleware`` (outermost): a request id (a sane incoming ``X-Request-ID`` is kept,
otherwise one is generated; echoed on every response and in every problem body), security headers,
``Cache-Control: no-store`` unless a response chose its own caching, and the last-resort 500
problem for unexpected exceptions (logged with the request id, no internal detail sent), and the
access log.

The access log (logger ``trust.web.access``, one INFO record per request) replaces uvicorn's,
which writes the full request line: query strings carry tokens and personal data
(``id_token_hint`` on ``/oidc/logout``, ``code``/``state`` on the federation callback,
``login_hint``). Each record has the method, the path WITHOUT the query string, the status, the
duration and the request id - nothing the client sent besides the path. ``server_log_config``
is the ``logging.config.dictConfig`` that ``trustctl serve`` gives uvicorn (with
``access_log=False``).

``BodySizeLimitMiddleware``: a declared ``Content-Length`` above the limit is refused with 413
before any byte of the body is read; a body without ``Content-Length`` (chunked) is counted while
the application reads it and refused as soon as it passes the limit. Being the innermost of our
middlewares, it also hands requests for registered fast routes (``trust.web.fastroute``) to
their fast endpoints instead of the main router.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trust.errors import InvalidInput, PayloadTooLarge, TrustError
from trust.ids import new_id
from trust.web.fastroute import serve_fast_route
from trust.web.problems import problem_for_error, problem_response

__all__ = [
    "ACCESS_LOGGER",
    "BodySizeLimitMiddleware",
    "BodyTooLarge",
    "RequestContextMiddleware",
    "server_log_config",
]

logger = logging.getLogger("trust.web")
ACCESS_LOGGER: Final = "trust.web.access"
access_logger = logging.getLogger(ACCESS_LOGGER)
_MAX_LOGGED_PATH: Final = 200

_REQUEST_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: Pages use only their own stylesheet: no scripts, no inline styles, no frames, no third parties.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS: Final = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_SECURITY_HEADERS_RAW: Final = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in _SECURITY_HEADERS
)
_HSTS: Final = "max-age=31536000; includeSubDomains"
_STATIC_CACHE: Final = "public, max-age=3600"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, always_hsts: bool = False) -> None:
        self.app = app
        #: True when the public URL is https (TLS ends at a proxy in front of us).
        self.always_hsts = always_hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id") or ""
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else new_id("req")
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        status = 0
        begun = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, int(message["status"])
                self._decorate(scope, message, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error (request_id=%s)", request_id)
            if started:
                raise
            response = problem_response(
                status=500,
                code="internal_error",
                title="内部错误",
                detail=f"服务内部错误，请携带请求编号 {request_id} 联系管理员",
                scope=scope,
            )
            await response(scope, receive, send_with_headers)
        finally:
            _log_access(scope, status, time.perf_counter() - begun, request_id)

    def _decorate(self, scope: Scope, message: Message, request_id: str) -> None:
        # On the raw header list (every response passes here; MutableHeaders rescans the list
        # for each header it sets): our request id replaces any, the others only when absent.
        headers = [
            (name, value)
            for name, value in message.get("headers", ())
            if name.lower() != b"x-request-id"
        ]
        present = {name.lower() for name, _ in headers}
        headers.append((b"x-request-id", request_id.encode("latin-1")))
        for name, value in _SECURITY_HEADERS_RAW:
            if name not in present:
                headers.append((name, value))
        if (
            self.always_hsts or scope.get("scheme") == "https"
        ) and b"strict-transport-security" not in present:
            headers.append((b"strict-transport-security", _HSTS.encode()))
        if b"cache-control" not in present:
            path = str(scope.get("path", ""))
            cache = _STATIC_CACHE if path.startswith("/static/") else "no-store"
            headers.append((b"cache-control", cache.encode()))
        message["headers"] = headers


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case, as ASGI servers pass names), else None;
    a direct scan (every request passes here twice; ``Headers`` copies the whole list)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _log_access(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    """One access-log record. ``scope["path"]`` never holds the query string (ASGI spec)."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    path = str(scope.get("path", ""))[:_MAX_LOGGED_PATH]
    method = str(scope.get("method", ""))[:16]
    access_logger.info(
        "%s %s %d %.1fms request_id=%s",
        method,
        path,
        status,
        seconds * 1000,
        request_id,
        extra={
            "http_method": method,
            "http_path": path,
            "http_status": status,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": request_id,
        },
    )


def server_log_config(level: str = "INFO") -> dict[str, Any]:
    """``dictConfig`` for the HTTP server: uvicorn's own messages and the ``trust`` loggers
    (the access log included) to stderr; ``uvicorn.access`` silenced (run uvicorn with
    ``access_log=False`` too)."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "trust": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit. An ``HTTPException`` so
    that FastAPI's body parsing re-raises it unchanged (it turns other exceptions into 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"请求体超过 {limit} 字节的上限")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_declared(_header(scope, b"content-length"))
        if refusal is not None:
            await problem_for_error(refusal, scope)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if not await serve_fast_route(scope, counting_receive, tracking_send, self.app):
                await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            error = PayloadTooLarge(str(exc.detail), extra={"max_bytes": self.max_bytes})
            await problem_for_error(error, scope)(scope, receive, send)

    def _check_declared(self, content_length: str | None) -> TrustError | None:
        if content_length is None:
            return None
        if not content_length.isascii() or not content_length.isdigit():
            return InvalidInput("Content-Length 无效", code="request.bad_content_length")
        if int(content_length) > self.max_bytes:
            return PayloadTooLarge(
                f"请求体超过 {self.max_bytes} 字节的上限", extra={"max_bytes": self.max_bytes}
            )
        return None
