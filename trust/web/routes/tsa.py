"""RFC 3161 §3.4 time-stamp protocol via HTTP: ``POST /tsa`` with an
``application/timestamp-query`` body (a DER TimeStampReq) answers ``application/timestamp-reply``
(a DER TimeStampResp).

A well-formed DER TimeStampReq that the TSA refuses (bad content, unsupported algorithm or
policy, no TSA key) gets what RFC 3161 §2.4.2 requires: a TimeStampResp rejection with its
PKIFailureInfo bit, sent with HTTP 200 as TSA clients expect. A request that is not a
time-stamp query at all is an HTTP error, problem+json with a stable code: a wrong media type
is 415 ``tsa.unsupported_media_type``; an empty body or bytes that are not one DER SEQUENCE is
400 ``tsa.bad_request``.
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
from trust.tsa.errors import TsaBadRequest, UnsupportedMediaType
from trust.tsa.service import respond, system_failure_response
from trust.tsa.tsp import is_der_sequence, rejection_response
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
    responses={
        200: {
            "content": {REPLY_MEDIA_TYPE: {}},
            "description": "DER TimeStampResp（授予，或带 PKIFailureInfo 的拒绝）",
        },
        400: {"description": "请求体为空或不是 DER 编码（problem+json，code tsa.bad_request）"},
        415: {"description": "媒体类型错误（problem+json，code tsa.unsupported_media_type）"},
    },
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
    if not query:
        raise TsaBadRequest(
            f"the request body is empty: send a DER TimeStampReq ({QUERY_MEDIA_TYPE})"
        )
    if not is_der_sequence(query):
        raise TsaBadRequest("the request body is not a DER-encoded TimeStampReq (RFC 3161 §2.4.1)")
    if len(query) > _MAX_QUERY:
        reply = rejection_response("bad_request", "time-stamp request too large")
    else:
        reply = await run_in_threadpool(_answer, query, session, clock, keystore, settings)
    return Response(content=reply, media_type=REPLY_MEDIA_TYPE)
