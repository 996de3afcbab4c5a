"""RFC 3161 §3.4 time-stamp protocol via HTTP: ``POST /tsa`` with an
``application/timestamp-query`` body (a DER TimeStampReq) answers ``application/timestamp-reply``
(a DER TimeStampResp).

Protocol-level refusals (malformed request, unsupported algorithm or policy, no TSA key) are
TimeStampResp rejections with the PKIFailureInfo bit of RFC 3161 §2.4.2, sent with HTTP 200 as
TSA clients expect; only a wrong media type is an HTTP error (415 problem).
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from keys.interfaces import KeyStore, KeyUsage
from trust.clock import Clock
from trust.config import Settings
from trust.errors import Conflict, NotFound
from trust.tsa.errors import UnsupportedMediaType
from trust.tsa.service import respond, system_failure_response
from trust.tsa.tsp import rejection_response
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep

__all__ = ["router"]

QUERY_MEDIA_TYPE: Final = "application/timestamp-query"
REPLY_MEDIA_TYPE: Final = "application/timestamp-reply"
#: A TimeStampReq is a few hundred bytes; anything much larger is not one.
_MAX_QUERY: Final = 4096

router = APIRouter(tags=["时间戳服务"])


def _answer(
    query: bytes, session: Session, clock: Clock, keystore: KeyStore, settings: Settings
) -> bytes:
    try:
        signer = keystore.active_signer(session=session, usage=KeyUsage.TIMESTAMP)
    except (NotFound, Conflict):
        return system_failure_response("no time-stamping key is active")
    return respond(clock=clock, signer=signer, query_der=query, policy_oid=settings.tsa_policy_oid)


@router.post(
    "/tsa",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {QUERY_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={200: {"content": {REPLY_MEDIA_TYPE: {}}, "description": "DER TimeStampResp"}},
    summary="RFC 3161 时间戳",
)
async def post_timestamp(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> Response:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != QUERY_MEDIA_TYPE:
        raise UnsupportedMediaType(
            f"request body must be {QUERY_MEDIA_TYPE}, got {media_type or 'none'}",
            extra={"accepted": [QUERY_MEDIA_TYPE]},
        )
    query = await request.body()
    if len(query) > _MAX_QUERY:
        reply = rejection_response("bad_request", "time-stamp request too large")
    else:
        reply = await run_in_threadpool(_answer, query, session, clock, keystore, settings)
    return Response(content=reply, media_type=REPLY_MEDIA_TYPE)
