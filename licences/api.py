"""HTTP edge of the electronic licences capability (prefix ``/licences``; issue 5).

Public (no authentication; verification rate-limited per IP and per authenticated client):

* ``GET /licences/types``, ``GET /licences/types/{code}`` — the GB/T 36902 catalogue
  (``POST /licences/types`` registers a type: system administrators);
* ``POST /licences/verify/code`` ``{"code"}``, ``POST /licences/verify/qr`` ``{"payload"}``,
  ``POST /licences/verify/pdf`` (upload) — fixed result codes and the minimal view. The typed
  code is the hot path: its counts, lookup and 核验记录 are group-committed with concurrent
  requests' (``licences.api_limits``), and a fast endpoint (``trust.web.fastroute``) serves its
  common case (a JSON body that validates) ahead of the main router;
* ``GET /licences/trust-list`` (COSE_Sign1, ``application/cose``), ``GET
  /licences/trust-list/anchor`` (the pinned trust-list key);
* ``GET /licences/status-lists`` — the index of every issuer's status lists (id, issuer, size,
  update time, URL); ``GET /licences/status-lists/{list_id}`` — a signed 2-bit status list
  (COSE_Sign1).

Issuers (staff bearer token or the department's client credentials, role ``licence_issuer``):

* ``POST /licences`` issue (``Idempotency-Key`` header or body ``idempotency_key``);
* ``GET /licences``, ``GET /licences/{ref}``, ``GET /licences/{ref}/document.pdf``,
  ``GET /licences/{ref}/history``;
* ``POST /licences/{ref}/suspend|resume|withdraw|revoke|revoke-penalty|annul`` ``{"reason"}``,
  ``POST /licences/{ref}/change``.

Holder (the natural person logged in through the identity capability; ``licences.api_holder``)
and third parties:

* ``GET /licences/holder/licences``, ``…/{ref}/document.pdf``, ``…/{ref}/activity`` (every
  verification, ex-officio lookup and share), ``POST …/{ref}/shares``,
  ``POST /licences/holder/shares/{id}/revoke``, and the page ``GET /licences/mine``;
* ``POST /licences/shares/redeem`` (the named recipient, authenticated);
* ``POST /licences/ex-officio`` (department staff; 事项编码, 业务流水号, 事由).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import format_datetime
from typing import Annotated, Final

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from licences import (
    service,
    service_issue,
    service_lifecycle,
    service_share,
    service_status,
    service_trust,
    service_verify,
)
from licences.api_holder import router as holder_router
from licences.api_limits import (
    CodeRequest,
    VerifyBatch,
    count_verification,
    count_verification_sync,
    rate_hits,
    verifier_of,
    verify_batch,
)
from licences.api_pages import LicenceConfigDep, licence_config
from licences.api_pages import router as pages_router
from licences.catalogue import (
    FieldSpec,
    FieldType,
    HolderKind,
    LicenceTypeSpec,
    ValidityRule,
)
from licences.issuance import IssueRequest
from licences.lifecycle import LicenceAction
from licences.schemas import (
    CodeVerify,
    ExOfficioLookup,
    LicenceChange,
    LicenceCreate,
    LicenceIssuedRead,
    LicencePage,
    LicenceRead,
    LicenceTypeCreate,
    LicenceTypeRead,
    QrVerify,
    ShareRedeem,
    StatusChange,
    StatusListRead,
    TrustAnchorRead,
    VerificationRead,
)
from licences.service_errors import LicenceKeyUnavailable, LicenceRequestInvalid
from licences.service_keys import LicenceConfig
from licences.verification import VerificationResult
from seals.api_support import read_upload
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, batch_committer
from trust.web.fastroute import register_fast_route
from trust.web.problems import problem_responses
from trust.web.security import (
    OptionalPrincipalDep,
    PrincipalDep,
    authenticate_header,
    ensure_role,
)

__all__ = ["router"]

_VERIFY_CODE_PATH: Final = "/licences/verify/code"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    register_fast_route(app, "POST", _VERIFY_CODE_PATH, _verify_code_fast)
    yield


router = APIRouter(tags=["licences"], lifespan=_lifespan)
router.include_router(pages_router)
router.include_router(holder_router)

COSE_MEDIA: Final = "application/cose"
_ERRORS = problem_responses(400, 401, 403, 404, 409, 415)
_VERIFY_ERRORS = problem_responses(400, 413, 429)
_PDF_BODY: Final = {
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
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_COSE_RESPONSE: Final[dict[int | str, dict[str, object]]] = {
    200: {"description": "COSE_Sign1（SM2）", "content": {COSE_MEDIA: {}}}
}


# --------------------------------------------------------------------------- catalogue


@router.get("/licences/types", summary="证照目录（GB/T 36902）")
def list_types(session: SessionDep) -> list[LicenceTypeRead]:
    return [
        LicenceTypeRead.model_validate(t.to_dict()) for t in service.list_types(session=session)
    ]


@router.get("/licences/types/{code}", summary="证照类型", responses=problem_responses(404))
def get_type(code: str, session: SessionDep) -> LicenceTypeRead:
    return LicenceTypeRead.model_validate(
        service.get_type(session=session, type_code=code).to_dict()
    )


@router.post(
    "/licences/types",
    status_code=status.HTTP_201_CREATED,
    summary="登记证照类型（系统管理员）",
    responses=_ERRORS,
)
def register_type(
    body: LicenceTypeCreate, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> LicenceTypeRead:
    ensure_role(principal, Role.SYSTEM_ADMIN)
    try:
        spec = LicenceTypeSpec(
            code=body.code,
            name=body.name,
            defining_authority_name=body.defining_authority_name,
            holder_kind=HolderKind(body.holder_kind),
            fields=tuple(
                FieldSpec(
                    name=f.name,
                    label=f.label,
                    type=FieldType(f.type),
                    mandatory=f.mandatory,
                    max_length=f.max_length,
                    choices=tuple(f.choices),
                )
                for f in body.fields
            ),
            validity=ValidityRule(body.validity),
            validity_years=body.validity_years,
            template=body.template,
            number_prefix=body.number_prefix,
        )
    except ValueError as exc:  # an unknown enum value
        raise LicenceRequestInvalid(f"取值无效：{exc}"[:200], code="licence.request.type") from None
    record = service.register_type(session=session, clock=clock, spec=spec, actor=principal.actor)
    return LicenceTypeRead.model_validate(record.to_dict())


# --------------------------------------------------------------------------- verification


async def _verify_code(
    request: Request,
    principal: Principal | None,
    config: LicenceConfig,
    raw_code: str,
    batch: VerifyBatch,
) -> VerificationResult:
    # The MAC is computed here for every input (same work for unknown and malformed codes);
    # the counts, lookup and record are committed with concurrent requests' before we answer.
    item = CodeRequest(
        lookup=service_verify.prepare_code(config=config, raw_code=raw_code),
        who=verifier_of(request, principal),
        hits=rate_hits(request, principal),
    )
    # Counts and 核验记录 only: committed without waiting for the flush (``api_limits``).
    return await batch_committer(request.app.state).run(batch.codes, item, durable=False)


@router.post(_VERIFY_CODE_PATH, summary="按核验码核验（公开）", responses=_VERIFY_ERRORS)
async def verify_code(
    body: CodeVerify,
    request: Request,
    principal: OptionalPrincipalDep,
    config: LicenceConfigDep,
) -> VerificationRead:
    result = await _verify_code(request, principal, config, body.code, verify_batch(request))
    return VerificationRead.model_validate(result.to_dict())


async def _verify_code_fast(request: Request) -> Response | None:
    """The fast endpoint of ``verify_code`` (``trust.web.fastroute``): the same work, without
    FastAPI's routing and dependency injection, for a JSON body that validates; anything else
    (``None``) is left to ``verify_code``, which answers it as usual."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return None
    try:
        body = CodeVerify.model_validate_json(await request.body())
    except ValidationError:
        return None
    header = request.headers.get("authorization")  # as OptionalPrincipalDep does
    principal = (
        None if header is None else await run_in_threadpool(authenticate_header, request, header)
    )
    batch = verify_batch(request)
    result = await _verify_code(request, principal, licence_config(request), body.code, batch)
    return Response(batch.json_of(result), media_type="application/json")


@router.post(
    "/licences/verify/qr",
    summary="按二维码内容核验：先验签，再查在线状态",
    responses=_VERIFY_ERRORS,
)
def verify_qr(
    body: QrVerify,
    request: Request,
    principal: OptionalPrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
) -> VerificationRead:
    count_verification_sync(request, principal)
    result = service_verify.verify_qr(
        session=session,
        clock=clock,
        keystore=keystore,
        text=body.payload,
        who=verifier_of(request, principal),
    )
    return VerificationRead.model_validate(result.to_dict())


@router.post(
    "/licences/verify/pdf",
    summary="上传电子证照 PDF 核验：验章并与签发记录比对",
    openapi_extra=_PDF_BODY,
    responses=_VERIFY_ERRORS,
)
async def verify_pdf(
    request: Request, principal: OptionalPrincipalDep, session: SessionDep, clock: ClockDep
) -> VerificationRead:
    await count_verification(request, principal)
    data, _name = (await read_upload(request))["file"]
    result = await run_in_threadpool(
        service_verify.verify_pdf,
        session=session,
        clock=clock,
        data=data,
        who=verifier_of(request, principal),
    )
    return VerificationRead.model_validate(result.to_dict())


def _not_published() -> LicenceKeyUnavailable:
    return LicenceKeyUnavailable(
        "信任列表尚未发布（尚未签发电子证照）", code="licence.trust_list.not_published"
    )


@router.get(
    "/licences/trust-list",
    summary="签名的颁证单位密钥信任列表（COSE_Sign1；密钥变化时或每日重新签发）",
    response_class=Response,
    responses={**_COSE_RESPONSE, **problem_responses(404)},
)
def trust_list(session: SessionDep, clock: ClockDep, keystore: KeyStoreDep) -> Response:
    published = service_trust.current_trust_list(session=session, clock=clock, keystore=keystore)
    if published is None:
        raise _not_published()
    headers = {
        "Cache-Control": "public, max-age=300",
        "Last-Modified": format_datetime(published.issued_at, usegmt=True),
    }
    return Response(published.data, media_type=COSE_MEDIA, headers=headers)


@router.get(
    "/licences/trust-list/anchor",
    summary="信任列表签名公钥（离线核验方预置）",
    responses=problem_responses(404),
)
def trust_anchor(session: SessionDep, keystore: KeyStoreDep) -> TrustAnchorRead:
    anchor = service_trust.trust_anchor(session=session, keystore=keystore)
    if anchor is None:
        raise _not_published()
    return TrustAnchorRead(
        kid=anchor.kid.hex(),
        public_key=anchor.public_key.point.hex(),
        public_key_der=base64.b64encode(anchor.public_key_der).decode(),
    )


@router.get(
    "/licences/status-lists",
    summary="状态列表索引：各颁证单位的状态列表（标识、颁证单位、大小、更新时间、地址）",
)
def status_list_index(request: Request, session: SessionDep) -> list[StatusListRead]:
    base = str(request.app.state.settings.public_base_url)
    return [
        StatusListRead.model_validate(info.to_dict())
        for info in service_status.status_list_index(session=session, base_url=base)
    ]


@router.get(
    "/licences/status-lists/{list_id}",
    summary="签名的 2 位证照状态列表（COSE_Sign1）",
    response_class=Response,
    responses={**_COSE_RESPONSE, **problem_responses(404)},
)
def status_list(
    list_id: str, session: SessionDep, clock: ClockDep, keystore: KeyStoreDep
) -> Response:
    data = service_status.signed_status_list(
        session=session, clock=clock, keystore=keystore, list_id=list_id
    )
    return Response(data, media_type=COSE_MEDIA, headers={"Cache-Control": "public, max-age=60"})


# --------------------------------------------------------------------------- issuing


@router.post(
    "/licences",
    status_code=status.HTTP_201_CREATED,
    summary="签发电子证照（发证人或本部门应用客户端）",
    responses=_ERRORS,
)
def issue(
    body: LicenceCreate,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    config: LicenceConfigDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> LicenceIssuedRead:
    request = IssueRequest(
        type_code=body.type_code,
        holder_name=body.holder_name,
        holder_code=body.holder_code,
        fields=dict(body.fields),
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        licence_number=body.licence_number,
        area_code=body.area_code,
        idempotency_key=body.idempotency_key or idempotency_key,
        organisation_id=body.organisation_id,
    )
    issued = service_issue.issue_licence(
        session=session,
        clock=clock,
        keystore=keystore,
        config=config,
        principal=principal,
        request=request,
    )
    return LicenceIssuedRead.model_validate(issued.to_dict())


@router.get("/licences", summary="本组织签发的电子证照", responses=_ERRORS)
def list_licences(
    principal: PrincipalDep,
    session: SessionDep,
    organisation_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LicencePage:
    items, total = service.list_licences(
        session=session,
        principal=principal,
        organisation_id=organisation_id,
        limit=limit,
        offset=offset,
    )
    return LicencePage(items=[LicenceRead.model_validate(r.to_dict()) for r in items], total=total)


@router.get("/licences/{ref}", summary="电子证照（GB/T 36903 元数据）", responses=_ERRORS)
def get_licence(ref: str, principal: PrincipalDep, session: SessionDep) -> LicenceRead:
    record = service.get_licence(session=session, principal=principal, ref=ref)
    return LicenceRead.model_validate(record.to_dict())


@router.get(
    "/licences/{ref}/document.pdf",
    summary="盖章的电子证照 PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_ERRORS},
)
def document(ref: str, principal: PrincipalDep, session: SessionDep) -> Response:
    record = service.get_licence(session=session, principal=principal, ref=ref)
    row = service.load_licence(session, record.id)
    return Response(row.document_pdf, media_type="application/pdf")


@router.get("/licences/{ref}/history", summary="变更记录", responses=_ERRORS)
def history(ref: str, principal: PrincipalDep, session: SessionDep) -> list[dict[str, object]]:
    record = service.get_licence(session=session, principal=principal, ref=ref)
    return list(service.licence_history(session=session, licence_id=record.id))


def _status_route(path: str, action: LicenceAction, summary: str) -> None:
    def change(
        ref: str,
        body: StatusChange,
        principal: PrincipalDep,
        session: SessionDep,
        clock: ClockDep,
    ) -> LicenceRead:
        record = service_lifecycle.change_status(
            session=session,
            clock=clock,
            principal=principal,
            ref=ref,
            action=action,
            reason=body.reason,
        )
        return LicenceRead.model_validate(record.to_dict())

    change.__name__ = f"licence_{action.value}"
    router.add_api_route(
        f"/licences/{{ref}}/{path}",
        change,
        methods=["POST"],
        summary=summary,
        responses=_ERRORS,
        response_model=LicenceRead,
    )


_status_route("suspend", LicenceAction.SUSPEND, "暂扣")
_status_route("resume", LicenceAction.RESUME, "发还（恢复有效）")
_status_route("withdraw", LicenceAction.WITHDRAW, "撤回")
_status_route("revoke", LicenceAction.REVOKE, "撤销")
_status_route("revoke-penalty", LicenceAction.REVOKE_PENALTY, "吊销")
_status_route("annul", LicenceAction.ANNUL, "注销")


@router.post(
    "/licences/{ref}/change", summary="变更：签发新版本，原版本标记为已变更", responses=_ERRORS
)
def change_licence(
    ref: str,
    body: LicenceChange,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    config: LicenceConfigDep,
) -> LicenceIssuedRead:
    issued = service_lifecycle.change_licence(
        session=session,
        clock=clock,
        keystore=keystore,
        config=config,
        principal=principal,
        ref=ref,
        changes=body.changes(),
        reason=body.reason,
    )
    return LicenceIssuedRead.model_validate(issued.to_dict())


# --------------------------------------------------------------------------- holder, third parties


@router.post(
    "/licences/shares/redeem", summary="被授权方：使用共享码查看授权字段", responses=_ERRORS
)
def redeem_share(
    body: ShareRedeem,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    config: LicenceConfigDep,
) -> dict[str, object]:
    return service_share.redeem_share(
        session=session, clock=clock, config=config, principal=principal, token=body.token
    )


@router.post(
    "/licences/ex-officio",
    summary="依职能查验（部门工作人员；事项编码、业务流水号、事由必填；记录并告知持证人）",
    responses=_ERRORS,
)
def ex_officio(
    body: ExOfficioLookup, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> LicenceRead:
    record = service_share.ex_officio_lookup(
        session=session,
        clock=clock,
        principal=principal,
        identifier=body.identifier,
        service_item_code=body.service_item_code,
        case_number=body.case_number,
        reason=body.reason,
        organisation_id=body.organisation_id,
    )
    return LicenceRead.model_validate(record.to_dict())
