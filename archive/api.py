"""HTTP edge of the electronic archive (prefix ``/archive``); problem+json errors with stable
``archive.*`` codes. Every route is authenticated; roles: archivist (档案员: submit, retrieve,
dispose) and auditor (审计员: read and check, change nothing). Every read of a package records
the caller and the ``purpose`` query parameter (利用目的, required).

* uploads (resumable): ``POST /archive/uploads`` → ``PUT /archive/uploads/{id}?offset=N`` (raw
  chunk; a wrong offset answers 409 with ``received``) → ``GET /archive/uploads/{id}`` (resume
  point) → ``POST /archive/uploads/{id}/complete`` (``sm3``, ``size``);
* ``POST /archive/cases`` (``upload_id`` of a zip of ``case.json`` + ``files/``): 201 archived,
  200 the same submission again, 422 ``archive.checks_failed`` with every failure, 409
  ``archive.version_exists``; the upload is used once and its zip removed either way;
* ``GET /archive/cases`` search; ``GET /archive/cases/{ref}`` case view;
  ``GET /archive/cases/{ref}/files/{path}``, ``/package.zip``, ``/access-copy.zip`` streams;
* ``POST /archive/cases/{ref}/fixity``, ``GET /archive/cases/{ref}/fixity``,
  ``POST /archive/fixity?limit=N`` (a bounded part of the sweep, least recently checked
  first, one transaction per package); ``POST /archive/appraisal?limit=N``;
* ``POST /archive/cases/{ref}/disposal``, ``POST /archive/disposals/{id}/approve|execute``
  (objects removed after the commit);
* ``POST /archive/transfers`` (a transfer bag, 移交), ``GET /archive/transfers/{id}``,
  ``GET /archive/transfers/{id}/package.zip``, ``POST /archive/transfers/{id}/receipt``.

Routes that run several transactions of their own (submission bookkeeping aside: the sweeps,
disposal execution) take the session factory instead of the request's transaction.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from archive import disposal, preservation, retrieval, service_uploads, sweeps, transfer
from archive.api_access import (
    CaseAccess,
    access_copy_download,
    attachment,
    case_view,
    file_download,
    package_download,
)
from archive.api_pages import router as pages_router
from archive.retrieval import SearchQuery
from archive.schemas import (
    CaseSubmit,
    DisposalCreate,
    DisposalRead,
    IngestRead,
    PackagePage,
    PackageRead,
    ReceiptCreate,
    TransferCreate,
    TransferRead,
    UploadComplete,
    UploadCreate,
    UploadRead,
)
from archive.search import MAX_OFFSET
from archive.service import ingest_case
from archive.service_records import PackageRecord, find_package_row, package_record
from archive.service_tools import archive_store, archive_tools, transfers_root, uploads_root
from trust.errors import InvalidInput, PermissionDenied, TrustError
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep
from trust.web.problems import problem_for_error, problem_responses
from trust.web.security import PrincipalDep

__all__ = ["router"]

router = APIRouter(tags=["archive"])
router.include_router(pages_router)

_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422)
Purpose = Annotated[str, Query(min_length=1, max_length=200, description="利用目的（必填）")]


def need(principal: Principal, *roles: Role) -> Principal:
    if not any(principal.has_role(r) for r in roles):
        raise PermissionDenied(
            "需要角色 " + " 或 ".join(r.value for r in roles),
            code="auth.role_required",
            extra={"required_role": roles[0].value},
        )
    return principal


def _read(principal: Principal) -> Principal:
    return need(principal, Role.ARCHIVIST, Role.AUDITOR)


def _package(r: PackageRecord) -> PackageRead:
    return PackageRead(**asdict(r))


def _session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


#: for routes that run one transaction per item themselves (sweeps, disposal execution)
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(_session_factory)]
SweepLimit = Annotated[int, Query(ge=1, le=200, description="本次最多处理的档案数")]


# --------------------------------------------------------------------------- uploads


@router.post(
    "/archive/uploads",
    status_code=status.HTTP_201_CREATED,
    summary="创建可续传上传（办件提交包 zip）",
    responses=_ERRORS,
)
def create_upload(
    body: UploadCreate,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> UploadRead:
    need(principal, Role.ARCHIVIST)
    record = service_uploads.create_upload(
        session=session,
        clock=clock,
        root=uploads_root(settings),
        owner=principal.actor,
        filename=body.filename,
        size=body.size,
    )
    return UploadRead.model_validate(record, from_attributes=True)


@router.get("/archive/uploads/{upload_id}", summary="上传进度（续传点）", responses=_ERRORS)
def get_upload(upload_id: str, principal: PrincipalDep, session: SessionDep) -> UploadRead:
    need(principal, Role.ARCHIVIST)
    record = service_uploads.get_upload(session=session, upload_id=upload_id, owner=principal.actor)
    return UploadRead.model_validate(record, from_attributes=True)


@router.put(
    "/archive/uploads/{upload_id}",
    summary="上传一个分片（offset 须等于已收到的字节数）",
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def put_chunk(
    upload_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0)],
) -> UploadRead:
    need(principal, Role.ARCHIVIST)
    body = await request.body()  # bounded by the request-size middleware
    record = await run_in_threadpool(
        service_uploads.append_chunk,
        session=session,
        clock=clock,
        root=uploads_root(settings),
        upload_id=upload_id,
        owner=principal.actor,
        offset=offset,
        chunks=[body],
    )
    return UploadRead.model_validate(record, from_attributes=True)


@router.post(
    "/archive/uploads/{upload_id}/complete", summary="完成上传（校验 SM3）", responses=_ERRORS
)
def complete_upload(
    upload_id: str,
    body: UploadComplete,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> UploadRead:
    need(principal, Role.ARCHIVIST)
    record = service_uploads.complete_upload(
        session=session,
        clock=clock,
        root=uploads_root(settings),
        upload_id=upload_id,
        owner=principal.actor,
        sm3=body.sm3,
        size=body.size,
    )
    return UploadRead.model_validate(record, from_attributes=True)


# --------------------------------------------------------------------------- ingest


@router.post(
    "/archive/cases",
    summary="提交办件归档（四性检测、封装、签名、时间戳、登记）",
    response_model=IngestRead,
    responses={**_ERRORS, 201: {"description": "已归档", "model": IngestRead}},
)
def submit_case(
    body: CaseSubmit,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> IngestRead | Response:
    need(principal, Role.ARCHIVIST)
    tools = archive_tools(session=session, settings=settings)
    try:
        done = service_uploads.ingest_upload(
            session=session,
            root=uploads_root(settings),
            upload_id=body.upload_id,
            owner=principal.actor,
            ingest=lambda path: ingest_case(
                session=session,
                clock=clock,
                keystore=keystore,
                tools=tools,
                source=path,
                actor=principal.actor,
            ),
        )
    except TrustError as exc:
        if exc.http_status >= 500:
            raise
        # answered without raising, so that the upload's "refused" state commits (the
        # ingest's own changes were rolled back to their savepoint)
        return problem_for_error(exc, request.scope)
    response.status_code = status.HTTP_201_CREATED if done.created else status.HTTP_200_OK
    return IngestRead(created=done.created, package=_package(done.package), report=done.report)


# --------------------------------------------------------------------------- retrieval


@router.get("/archive/cases", summary="检索档案", responses=_ERRORS)
def search_cases(
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    case_number: Annotated[str | None, Query(max_length=64)] = None,
    archival_code: Annotated[str | None, Query(max_length=100)] = None,
    applicant: Annotated[str | None, Query(max_length=200)] = None,
    item: Annotated[str | None, Query(max_length=200)] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    after: Annotated[str | None, Query(max_length=60, description="上一页返回的 next 游标")] = None,
    purpose: Annotated[str, Query(min_length=1, max_length=200)] = "档案检索",
) -> PackagePage:
    _read(principal)
    retrieval.record_access(
        session=session, clock=clock, actor=principal.actor, action="search", purpose=purpose
    )
    result = retrieval.search(
        session=session,
        query=SearchQuery(
            case_number=case_number,
            archival_code=archival_code,
            applicant=applicant,
            item=item,
            date_from=date_from,
            date_to=date_to,
            text=text,
            limit=limit,
            offset=offset,
            after=after,
        ),
    )
    return PackagePage(
        total=result.total,
        items=[_package(r) for r in result.items],
        total_capped=result.total_capped,
        next=result.next,
    )


def _case_access(
    ref: str,
    purpose: Purpose,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseAccess:
    _read(principal)
    return CaseAccess(
        session=session,
        clock=clock,
        settings=settings,
        ref=ref,
        actor=principal.actor,
        purpose=purpose,
    )


#: a reader (archivist or auditor) of the case ``ref``, with the required purpose
CaseAccessDep = Annotated[CaseAccess, Depends(_case_access)]


@router.get(
    "/archive/cases/{ref}", summary="档案详情（元数据、过程、文件、签章状态）", responses=_ERRORS
)
def get_case(access: CaseAccessDep) -> dict[str, Any]:
    view = case_view(access)
    return {
        "package": view.package.to_dict(),
        "case": view.case,
        "archival": view.archival,
        "timeline": list(view.timeline),
        "files": list(view.files),
        "seals": list(view.seals),
        "report_verdict": view.report.get("verdict"),
        "versions": [v.to_dict() for v in view.versions],
    }


@router.get(
    "/archive/cases/{ref}/files/{path:path}",
    summary="下载一个文件（原件字节不变）",
    responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    response_class=StreamingResponse,
)
def download_file(access: CaseAccessDep, path: str) -> StreamingResponse:
    return file_download(access, path)


@router.get(
    "/archive/cases/{ref}/package.zip",
    summary="下载整个归档信息包（流式 ZIP）",
    responses={**_ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=StreamingResponse,
)
def download_package(access: CaseAccessDep) -> StreamingResponse:
    return package_download(access)


@router.get(
    "/archive/cases/{ref}/access-copy.zip",
    summary="利用副本（非原件，流式 ZIP）",
    responses={**_ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=StreamingResponse,
)
def download_access_copy(access: CaseAccessDep) -> StreamingResponse:
    return access_copy_download(access)


# --------------------------------------------------------------------------- preservation


@router.post("/archive/cases/{ref}/fixity", summary="固定性检查（一个档案）", responses=_ERRORS)
def check_fixity(
    ref: str,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    _read(principal)
    tools = archive_tools(session=session, settings=settings)
    outcome = preservation.check_package_fixity(
        session=session,
        clock=clock,
        keystore=keystore,
        store=tools.store,
        ref=ref,
        actor=principal.actor,
        timestamps=tools.timestamps,
    )
    return outcome.report


@router.get("/archive/cases/{ref}/fixity", summary="最近一次固定性检查结果", responses=_ERRORS)
def last_fixity(ref: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    _read(principal)
    row = find_package_row(session, ref)
    return preservation.latest_fixity(session=session, package_id=row.id) or {}


@router.post(
    "/archive/fixity",
    summary="固定性巡检（最久未查的若干档案，每个档案一个事务）",
    responses=_ERRORS,
)
def fixity_sweep(
    principal: PrincipalDep,
    sessions: SessionFactoryDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
    limit: SweepLimit = 20,
) -> dict[str, Any]:
    _read(principal)
    return sweeps.sweep_fixity(
        session_factory=sessions,
        clock=clock,
        keystore=keystore,
        settings=settings,
        actor=principal.actor,
        limit=limit,
    ).to_dict()


@router.post(
    "/archive/appraisal", summary="保管期满的档案进入鉴定（不会自动删除）", responses=_ERRORS
)
def appraisal(
    principal: PrincipalDep,
    sessions: SessionFactoryDep,
    clock: ClockDep,
    session: SessionDep,
    limit: SweepLimit = 200,
) -> PackagePage:
    need(principal, Role.ARCHIVIST)
    done = sweeps.sweep_appraisal(
        session_factory=sessions, clock=clock, actor=principal.actor, limit=limit
    )
    rows = [find_package_row(session, code) for code in done.flagged]
    return PackagePage(total=len(rows), items=[_package(package_record(r)) for r in rows])


def _disposal(state: disposal.DisposalState) -> DisposalRead:
    return DisposalRead.model_validate(state.to_dict())


@router.post(
    "/archive/cases/{ref}/disposal",
    status_code=status.HTTP_201_CREATED,
    summary="提出销毁（须已进入鉴定）",
    responses=_ERRORS,
)
def propose_disposal(
    ref: str, body: DisposalCreate, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> DisposalRead:
    need(principal, Role.ARCHIVIST)
    return _disposal(
        disposal.propose_disposal(
            session=session,
            clock=clock,
            ref=ref,
            register_number=body.register_number,
            reason=body.reason,
            actor=principal.actor,
        )
    )


@router.post(
    "/archive/disposals/{disposal_id}/approve",
    summary="批准销毁（两名不同人员，均非提出人）",
    responses=_ERRORS,
)
def approve_disposal(
    disposal_id: str, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> DisposalRead:
    need(principal, Role.ARCHIVIST, Role.AUDITOR)
    return _disposal(
        disposal.approve_disposal(
            session=session, clock=clock, disposal_id=disposal_id, actor=principal.actor
        )
    )


@router.post(
    "/archive/disposals/{disposal_id}/execute",
    summary="执行销毁（留下日志墓碑）",
    responses=_ERRORS,
)
def execute_disposal(
    disposal_id: str,
    principal: PrincipalDep,
    sessions: SessionFactoryDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> DisposalRead:
    need(principal, Role.ARCHIVIST)
    return _disposal(
        disposal.execute_disposal(
            session_factory=sessions,
            clock=clock,
            store=archive_store(settings),
            disposal_id=disposal_id,
            actor=principal.actor,
        )
    )


# --------------------------------------------------------------------------- transfers


def _transfer(record: transfer.TransferRecord) -> TransferRead:
    return TransferRead.model_validate(record.to_dict())


@router.post(
    "/archive/transfers",
    status_code=status.HTTP_201_CREATED,
    summary="生成移交包（BagIt，签名清单，回执模板）",
    responses=_ERRORS,
)
def create_transfer(
    body: TransferCreate,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    settings: SettingsDep,
) -> TransferRead:
    need(principal, Role.ARCHIVIST)
    return _transfer(
        transfer.create_transfer(
            session=session,
            clock=clock,
            keystore=keystore,
            store=archive_store(settings),
            refs=list(body.refs),
            root=transfers_root(settings),
            receiver=body.receiver,
            actor=principal.actor,
        )
    )


@router.get("/archive/transfers/{transfer_id}", summary="移交记录与回执", responses=_ERRORS)
def get_transfer(transfer_id: str, principal: PrincipalDep, session: SessionDep) -> TransferRead:
    _read(principal)
    return _transfer(transfer.get_transfer(session=session, transfer_id=transfer_id))


@router.get(
    "/archive/transfers/{transfer_id}/package.zip",
    summary="下载移交包（流式 ZIP）",
    responses={**_ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=StreamingResponse,
)
def download_transfer(
    transfer_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> StreamingResponse:
    need(principal, Role.ARCHIVIST)
    record = transfer.get_transfer(session=session, transfer_id=transfer_id)
    folder = transfer.transfer_folder(session=session, transfer_id=transfer_id)
    return StreamingResponse(
        retrieval.stream_folder_zip(archive_store(settings), folder, record.id),
        media_type="application/zip",
        headers={
            "Content-Disposition": attachment(f"{record.id}.zip"),
            "X-Transfer-Root-SM3": record.root_sm3,
        },
    )


@router.post(
    "/archive/transfers/{transfer_id}/receipt",
    summary="登记接收方回执（核对、验签、记录并写入日志）",
    responses=_ERRORS,
)
def post_receipt(
    transfer_id: str,
    body: ReceiptCreate,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TransferRead:
    need(principal, Role.ARCHIVIST)
    try:
        signature = base64.b64decode(body.signature, validate=True) if body.signature else None
    except (binascii.Error, ValueError):
        raise InvalidInput("签名不是 base64", code="archive.receipt_invalid") from None
    tools = archive_tools(session=session, settings=settings)
    return _transfer(
        transfer.record_receipt(
            session=session,
            clock=clock,
            trust=tools.trust,
            transfer_id=transfer_id,
            receipt=body.receipt.encode("utf-8"),
            signature=signature,
            actor=principal.actor,
        )
    )
