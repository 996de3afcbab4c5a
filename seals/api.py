"""HTTP edge of the seals capability (prefix ``/seals``): registry and lifecycle, stamping in
three forms, the two-person rule, usage history, and public verification by upload.

JSON API (problem+json errors with stable ``seal.*`` codes):

* ``POST /seals`` apply; ``POST /seals/{id}/make|activate|suspend|resume|revoke`` (body
  ``{"reason": ...}``); ``GET /seals``, ``GET /seals/{id}``, ``GET /seals/{id}/seal.esl``,
  ``GET /seals/{id}/image.png``;
* ``POST /seals/{id}/stamp/bytes|pdf|ofd``: the document as ``multipart/form-data`` (field
  ``file``) or as the raw request body; options as query parameters. Answers the stamped file
  (``X-Seal-Usage-Id``, ``X-Output-SM3``), or ``202`` with the stored request when the seal is
  under the two-person rule; ``GET /seals/requests/{id}``, ``POST /seals/requests/{id}/approve``,
  ``POST /seals/requests/{id}/execute`` (the same document again);
* ``GET /seals/{id}/usage``: 用章记录 (custodians, admin, auditors);
* ``POST /seals/verify``: anyone, no authentication, rate-limited per client IP
  (``seals.api_support.VERIFY_LIMIT`` per minute, counted in the database): a file
  (``file``) and, for a detached SES_Signature, its ``original``; answers the report.

The Chinese pages (verify page for everyone, seal management for staff, and the interim staff
login) are in ``seals.api_pages`` and included in ``router`` here.
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from seals import service, service_stamp, service_verify
from seals.api_pages import router as pages_router
from seals.api_support import read_upload, verify_rate_limit
from seals.policy import StampForm
from seals.schemas import (
    LifecycleChange,
    SealCreate,
    SealRead,
    StampRequestRead,
    UsageRead,
    VerificationReport,
)
from seals.service import SealApplication
from seals.service_stamp import Stamped, StampOptions
from trust.web.content import JSON_BODY
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep
from trust.web.problems import problem_responses
from trust.web.security import PrincipalDep

__all__ = ["router"]

router = APIRouter(tags=["seals"])
router.include_router(pages_router)

_ERRORS = problem_responses(400, 403, 404, 409, 413, 415)
_FILE_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "application/ofd": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_VERIFY_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "original": {
                            "type": "string",
                            "format": "binary",
                            "description": "分离式电子签章（.sig）所签的原文",
                        },
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_STAMPED: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "盖章后的文件",
        "content": {
            "application/pdf": {},
            "application/ofd": {},
            "application/octet-stream": {},
        },
    },
    202: {"description": "双人用印：已登记用印申请，待审批", "model": StampRequestRead},
}


# --------------------------------------------------------------------------- verification


@router.post(
    "/seals/verify",
    summary="验章：上传电子印章、电子签章、PDF 或 OFD（公开，无需认证）",
    openapi_extra=_VERIFY_BODY,
    responses=problem_responses(400, 413, 429),
)
async def verify_upload(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    filename: Annotated[str | None, Query(max_length=200, description="原始文件名（提示）")] = None,
) -> VerificationReport:
    verify_rate_limit(request)
    files = await read_upload(request, fields=("file", "original"))
    data, name = files["file"]
    original = files.get("original", (None, None))[0]
    report = await run_in_threadpool(
        service_verify.verify_file,
        data,
        filename or name,
        session=session,
        clock=clock,
        original=original,
    )
    return VerificationReport.model_validate(report)


# --------------------------------------------------------------------------- stamping requests


@router.get("/seals/requests/{request_id}", summary="用印申请详情", responses=_ERRORS)
def get_request(request_id: str, principal: PrincipalDep, session: SessionDep) -> StampRequestRead:
    record = service_stamp.get_request(session=session, principal=principal, request_id=request_id)
    return StampRequestRead.of(record)


@router.post(
    "/seals/requests/{request_id}/approve",
    summary="批准用印申请（印章管理员，非申请人）",
    responses=_ERRORS,
)
def approve_request(
    request_id: str, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> StampRequestRead:
    record = service_stamp.approve_request(
        session=session, clock=clock, principal=principal, request_id=request_id
    )
    return StampRequestRead.of(record)


def _file_response(stamped: Stamped, filename: str | None) -> Response:
    stem = (filename or "document").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "document"
    out_name = f"{stem}-stamped{stamped.suffix}"
    return Response(
        content=stamped.output,
        media_type=stamped.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(out_name)}",
            "X-Seal-Usage-Id": stamped.usage.id,
            "X-Seal-Log-Index": str(stamped.usage.log_index),
            "X-Output-SM3": stamped.usage.output_sm3,
        },
    )


@router.post(
    "/seals/requests/{request_id}/execute",
    summary="执行已批准的用印申请（申请人，上传同一文件）",
    response_class=Response,
    openapi_extra=_FILE_BODY,
    responses={**_ERRORS, 200: _STAMPED[200]},
)
async def execute_request(
    request_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> Response:
    data, name = (await read_upload(request))["file"]
    stamped = await run_in_threadpool(
        lambda: service_stamp.execute_request(
            session=session,
            clock=clock,
            keystore=keystore,
            principal=principal,
            request_id=request_id,
            document=data,
            tsa_policy_oid=settings.tsa_policy_oid,
        )
    )
    return _file_response(stamped, name)


# --------------------------------------------------------------------------- registry


@router.post(
    "/seals",
    status_code=status.HTTP_201_CREATED,
    summary="申请刻制印章（印章管理员或组织管理员）",
    responses=_ERRORS,
    dependencies=[JSON_BODY],
)
def apply_seal(
    body: SealCreate, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> SealRead:
    record = service.apply_seal(
        session=session,
        clock=clock,
        principal=principal,
        application=SealApplication(
            organisation_id=body.organisation_id,
            seal_type=body.seal_type,
            name=body.name,
            reason=body.reason,
            image=body.image_bytes(),
            image_size_mm=body.image_size(),
            person_name=body.person_name,
            valid_days=body.valid_days,
            two_person_rule=body.two_person_rule,
            custodians=body.custodians,
            users=body.users,
        ),
    )
    return SealRead.of(record)


@router.get("/seals", summary="印章列表（本人有角色的组织）", responses=_ERRORS)
def list_seals(
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    organisation_id: Annotated[str | None, Query(max_length=40)] = None,
) -> list[SealRead]:
    records = service.list_seals(
        session=session, clock=clock, principal=principal, organisation_id=organisation_id
    )
    return [SealRead.of(r) for r in records]


@router.get("/seals/{seal_id}", summary="印章详情", responses=_ERRORS)
def get_seal(
    seal_id: str, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> SealRead:
    return SealRead.of(
        service.get_seal(session=session, clock=clock, principal=principal, seal_id=seal_id)
    )


@router.get(
    "/seals/{seal_id}/seal.esl",
    summary="电子印章文件（GB/T 38540 SESeal，DER）",
    response_class=Response,
    responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
)
def get_esl(seal_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    esl = service.seal_esl(session=session, principal=principal, seal_id=seal_id)
    return Response(
        content=esl,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{seal_id}.esl"'},
    )


@router.get(
    "/seals/{seal_id}/image.png",
    summary="印章图片（PNG）",
    response_class=Response,
    responses={**_ERRORS, 200: {"content": {"image/png": {}}}},
)
def get_image(seal_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    png = service.seal_picture(session=session, principal=principal, seal_id=seal_id)
    return Response(content=png, media_type="image/png")


@router.post(
    "/seals/{seal_id}/make",
    summary="制作印章（生成用章密钥与证书，制章者签名）",
    responses=_ERRORS,
    dependencies=[JSON_BODY],
)
def make_seal(
    seal_id: str,
    body: LifecycleChange,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> SealRead:
    record = service.make_seal(
        session=session,
        clock=clock,
        keystore=keystore,
        settings=settings,
        principal=principal,
        seal_id=seal_id,
        reason=body.reason,
    )
    return SealRead.of(record)


_CHANGES: Final = {
    "activate": (service.activate_seal, "启用印章"),
    "suspend": (service.suspend_seal, "暂停使用印章"),
    "resume": (service.resume_seal, "恢复使用印章"),
    "revoke": (service.revoke_seal, "注销印章（同时撤销用章证书）"),
}


def _lifecycle_route(action: str) -> None:
    change, summary = _CHANGES[action]

    def route(
        seal_id: str,
        body: LifecycleChange,
        principal: PrincipalDep,
        session: SessionDep,
        clock: ClockDep,
    ) -> SealRead:
        record = change(
            session=session,
            clock=clock,
            principal=principal,
            seal_id=seal_id,
            reason=body.reason,
        )
        return SealRead.of(record)

    route.__name__ = f"{action}_seal"
    router.add_api_route(
        f"/seals/{{seal_id}}/{action}",
        route,
        methods=["POST"],
        summary=summary,
        responses=_ERRORS,
        dependencies=[JSON_BODY],
        response_model=SealRead,
    )


for _action in _CHANGES:
    _lifecycle_route(_action)


@router.get("/seals/{seal_id}/usage", summary="用章记录（印章管理员、组织管理员、审计员）")
def usage(
    seal_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[UsageRead]:
    records = service_stamp.usage_history(
        session=session, principal=principal, seal_id=seal_id, limit=limit
    )
    return [UsageRead.of(r) for r in records]


# --------------------------------------------------------------------------- stamping


def _stamp_route(form: StampForm, summary: str) -> None:
    async def route(
        seal_id: str,
        request: Request,
        principal: PrincipalDep,
        session: SessionDep,
        clock: ClockDep,
        keystore: KeyStoreDep,
        settings: SettingsDep,
        page: Annotated[int, Query(ge=1, le=10_000, description="页码，从 1 开始")] = 1,
        x_mm: Annotated[
            float | None, Query(ge=0, le=2000, description="印章左上角距页面左边")
        ] = None,
        y_mm: Annotated[
            float | None, Query(ge=0, le=2000, description="印章左上角距页面上边")
        ] = None,
        keyword: Annotated[
            str | None, Query(max_length=50, description="PDF：盖在关键字上")
        ] = None,
        cross_page: Annotated[bool, Query(description="PDF：骑缝章")] = False,
        timestamp: Annotated[bool, Query(description="加时间戳（本服务 TSA，覆盖签名值）")] = False,
        property_info: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        data, name = (await read_upload(request))["file"]
        options = StampOptions(
            property_info=property_info,
            timestamp=timestamp,
            page=page,
            x_mm=x_mm,
            y_mm=y_mm,
            keyword=keyword,
            cross_page=cross_page,
        )
        result = await run_in_threadpool(
            lambda: service_stamp.stamp_document(
                session=session,
                clock=clock,
                keystore=keystore,
                principal=principal,
                seal_id=seal_id,
                form=form,
                document=data,
                options=options,
                tsa_policy_oid=settings.tsa_policy_oid,
            )
        )
        if isinstance(result, service_stamp.StampPending):
            body = StampRequestRead.of(result.request).model_dump(mode="json")
            return JSONResponse(
                body,
                status_code=status.HTTP_202_ACCEPTED,
                headers={"Location": f"/seals/requests/{result.request.id}"},
            )
        return _file_response(result, name if name and "/" not in name else None)

    route.__name__ = f"stamp_{form.value}"
    router.add_api_route(
        f"/seals/{{seal_id}}/stamp/{form.value}",
        route,
        methods=["POST"],
        summary=summary,
        response_class=Response,
        openapi_extra=_FILE_BODY,
        responses={**_ERRORS, **_STAMPED},
    )


_stamp_route(StampForm.BYTES, "盖章：任意数据 → 分离式电子签章（SES_Signature，.sig）")
_stamp_route(StampForm.PDF, "盖章：PDF（位置、关键字或骑缝章）")
_stamp_route(StampForm.OFD, "盖章：OFD（GB/T 33190 第18章）")
