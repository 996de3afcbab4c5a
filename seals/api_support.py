"""Edge helpers shared by the seals API and pages: bounded uploads and the verify rate limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from fastapi import Request
from starlette.datastructures import UploadFile

from seals.errors import BadSealRequest, DocumentTooLarge
from seals.service_stamp import MAX_DOCUMENT_BYTES
from trust.errors import RateLimited
from trust.web.ratelimit import hit

__all__ = ["VERIFY_LIMIT", "VERIFY_WINDOW", "read_upload", "verify_rate_limit"]

#: Public verifications per client IP and window (``POST /seals/verify`` and the page).
VERIFY_LIMIT: Final = 30
VERIFY_WINDOW: Final = timedelta(seconds=60)


async def _bounded(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise DocumentTooLarge(f"文件超过 {limit} 字节")
    return bytes(data)


async def read_upload(
    request: Request, *, fields: tuple[str, ...] = ("file",), limit: int | None = None
) -> dict[str, tuple[bytes, str | None]]:
    """Files from ``multipart/form-data`` (the named ``fields``), or the raw body as ``file``:
    ``{field: (bytes, filename or media type)}``. Each at most ``limit`` bytes (default
    ``MAX_DOCUMENT_BYTES``; the request as a whole is bounded by the size-limit middleware)."""
    limit = MAX_DOCUMENT_BYTES if limit is None else limit
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        try:
            form = await request.form(max_files=len(fields), max_fields=len(fields) + 10)
        except Exception as exc:  # python-multipart / starlette: malformed or over the limits
            raise BadSealRequest(f"无法读取上传的表单：{type(exc).__name__}") from exc
        found: dict[str, tuple[bytes, str | None]] = {}
        try:
            for name in fields:
                value = form.get(name)
                if isinstance(value, UploadFile):
                    found[name] = (await _bounded(value, limit), value.filename)
        finally:
            await form.close()
        if fields[0] not in found:
            raise BadSealRequest(f"表单中缺少文件字段 {fields[0]}")
        return found
    body = await request.body()
    if len(body) > limit:
        raise DocumentTooLarge(f"文件超过 {limit} 字节")
    if not body:
        raise BadSealRequest("请求体为空：请上传文件")
    return {fields[0]: (body, media_type or None)}


def verify_rate_limit(request: Request) -> None:
    """Count one verification for the client IP in its own short transaction (so that refused
    and failing uploads count too); 429 ``seal.verify_rate_limited`` above the limit."""
    state = request.app.state
    ip = request.client.host if request.client else "unknown"
    with state.session_factory() as session, session.begin():
        decision = hit(
            session=session,
            key=f"seals:verify:ip:{ip}",
            window=VERIFY_WINDOW,
            limit=VERIFY_LIMIT,
            now=state.clock.now(),
        )
    if not decision.allowed:
        raise RateLimited(
            f"验章请求过于频繁，请 {decision.retry_after} 秒后再试",
            code="seal.verify_rate_limited",
            extra={"retry_after": decision.retry_after},
        )
