"""One error hierarchy for the whole service.

Every error carries a stable machine-readable ``code`` (part of the public contract: clients
branch on it), an ``http_status`` used only by ``trust.web.problems`` and a default Chinese
``title``. Capability packages subclass these in their own ``errors.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "Conflict",
    "IntegrityFailure",
    "InvalidInput",
    "Misconfigured",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "TrustError",
    "Unauthenticated",
    "Unavailable",
    "VerificationFailed",
]


class TrustError(Exception):
    """Root of every error this service raises on purpose."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    title: ClassVar[str] = "内部错误"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code
        self.extra: dict[str, Any] = dict(extra or {})


class InvalidInput(TrustError):
    """The request is malformed or violates a rule of its format."""

    code = "invalid_input"
    http_status = 400
    title = "请求无效"


class Unauthenticated(TrustError):
    code = "unauthenticated"
    http_status = 401
    title = "未认证"


class PermissionDenied(TrustError):
    code = "permission_denied"
    http_status = 403
    title = "无权操作"


class NotFound(TrustError):
    code = "not_found"
    http_status = 404
    title = "未找到"


class Conflict(TrustError):
    code = "conflict"
    http_status = 409
    title = "状态冲突"


class PayloadTooLarge(TrustError):
    code = "payload_too_large"
    http_status = 413
    title = "请求过大"


class VerificationFailed(TrustError):
    """A verification could not be *performed* (not: it was performed and said no)."""

    code = "verification_failed"
    http_status = 422
    title = "无法完成验证"


class IntegrityFailure(TrustError):
    """Stored data no longer matches its own protection (MAC, hash chain, signature)."""

    code = "integrity_failure"
    http_status = 500
    title = "数据完整性校验失败"


class RateLimited(TrustError):
    code = "rate_limited"
    http_status = 429
    title = "请求过于频繁"


class Unavailable(TrustError):
    code = "unavailable"
    http_status = 503
    title = "服务暂不可用"


class Misconfigured(TrustError):
    """Start-up refused: configuration, master key or crypto backend is unusable."""

    code = "misconfigured"
    http_status = 500
    title = "配置错误"
