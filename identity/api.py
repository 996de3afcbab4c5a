"""HTTP edge of real-name accounts (mount prefix ``/identity``), plus the simulated registry
under ``/sim`` outside production.

Person-facing routes authenticate the natural person with ``CurrentPersonDep``
(``identity.web_session``; interim signed cookie until the OIDC session replaces it). The face
provider's callback is authenticated by its SM2 signature alone. Bad input is a problem+json
with a stable code, never a 500; the citizen ID number travels only in request bodies.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, status
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from identity import service
from identity.errors import PersonNotFound
from identity.person_session import router as person_router
from identity.registry_sim import sim_router
from identity.schemas import (
    ActingForRead,
    AgentGrantCreate,
    AssertionPost,
    AuthorisationRead,
    ChallengeRead,
    MeRead,
    OrganisationCreate,
    OrganisationRead,
    PersonCreate,
    PersonRead,
    VerificationCreate,
    VerificationRead,
)
from identity.sms import HttpSmsSender, OutboxSender, SmsSender, outbox_messages
from identity.verifiers import RegistryHttp, Verifiers, build_verifiers
from identity.web_session import CurrentPersonDep, IdentityContext, identity_context
from trust.clock import Clock
from trust.errors import InvalidInput, NotFound, PermissionDenied
from trust.web.content import JSON_BODY
from trust.web.deps import ClockDep, SessionDep, SettingsDep
from trust.web.problems import problem_responses

__all__ = ["get_sms_sender", "get_verifiers", "router"]

router = APIRouter()
_api = APIRouter(prefix="/identity", tags=["identity"], dependencies=[JSON_BODY])
_ERRORS = problem_responses(400, 403, 404, 409, 415, 429, 503)

ContextDep = Annotated[IdentityContext, Depends(identity_context)]
VerificationKind = Literal["population", "bank_card", "phone", "face", "network_id"]


def get_verifiers(ctx: ContextDep) -> Iterator[Verifiers]:
    """The registry adapters over a fresh HTTP client (tests override this)."""
    with httpx.Client(timeout=ctx.config.http_timeout_seconds) as client:
        yield build_verifiers(ctx.config, client)


def get_sms_sender(ctx: ContextDep) -> Iterator[SmsSender]:
    if ctx.config.sms_sender == "outbox":
        yield OutboxSender()
        return
    with httpx.Client(timeout=ctx.config.http_timeout_seconds) as client:
        http = RegistryHttp(
            client,
            allow_simulated=ctx.config.simulated_sources_allowed,
        )
        yield HttpSmsSender(http, ctx.config.sms_gateway_url or "")


VerifiersDep = Annotated[Verifiers, Depends(get_verifiers)]
SmsSenderDep = Annotated[SmsSender, Depends(get_sms_sender)]


def _same_person(path_id: str, current: str) -> None:
    if path_id != current:
        raise PermissionDenied("只能操作本人账户", code="identity.not_your_account")


@_api.post(
    "/persons",
    status_code=status.HTTP_201_CREATED,
    summary="自然人注册（实名信息自行填报，一级）",
    responses=_ERRORS,
)
def register_person(
    body: PersonCreate, session: SessionDep, clock: ClockDep, ctx: ContextDep
) -> PersonRead:
    record = service.register_person(
        session=session,
        clock=clock,
        keys=ctx.keys,
        name=body.name,
        id_number=body.id_number,
        phone=body.phone,
        password=body.password,
        username=body.username,
    )
    return PersonRead.of(record)


@_api.get("/me", summary="当前自然人及可代表的法人", responses=_ERRORS)
def me(person_id: CurrentPersonDep, session: SessionDep, clock: ClockDep) -> MeRead:
    person = service.get_person(session=session, person_id=person_id)
    acting = service.authorisations_for(session=session, clock=clock, person_id=person_id)
    return MeRead(person=PersonRead.of(person), acting_for=[ActingForRead.of(a) for a in acting])


@_api.post(
    "/persons/{person_id}/verifications/{kind}",
    summary="发起或完成实名核验",
    responses=_ERRORS,
    response_model=VerificationRead | ChallengeRead,
)
def verify(
    person_id: str,
    kind: VerificationKind,
    body: VerificationCreate,
    current: CurrentPersonDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: ContextDep,
    verifiers: VerifiersDep,
    sender: SmsSenderDep,
) -> VerificationRead | JSONResponse:
    _same_person(person_id, current)
    if kind == "phone":
        return _phone(body, person_id, session, clock, ctx, sender)
    if kind == "bank_card":
        if not body.card_number:
            raise InvalidInput("缺少银行卡号", code="identity.missing_card_number")
        return VerificationRead.of(
            service.verify_bank_card(
                session=session,
                clock=clock,
                keys=ctx.keys,
                verifiers=verifiers,
                person_id=person_id,
                card_number=body.card_number,
            )
        )
    if kind == "population":
        return VerificationRead.of(
            service.verify_population(
                session=session,
                clock=clock,
                keys=ctx.keys,
                verifiers=verifiers,
                person_id=person_id,
            )
        )
    if kind == "face":
        started = service.start_face_verification(
            session=session, clock=clock, keys=ctx.keys, verifiers=verifiers, person_id=person_id
        )
        return _accepted(ChallengeRead.of_upstream(started))
    if body.assertion is None:
        started = service.start_network_id_verification(
            session=session, clock=clock, keys=ctx.keys, verifiers=verifiers, person_id=person_id
        )
        return _accepted(ChallengeRead.of_upstream(started))
    outcome = service.accept_network_id_assertion(
        session=session,
        clock=clock,
        config=ctx.config,
        assertion=body.assertion,
        expected_person_id=person_id,
    )
    return VerificationRead.of(outcome)


def _phone(
    body: VerificationCreate,
    person_id: str,
    session: Session,
    clock: Clock,
    ctx: IdentityContext,
    sender: SmsSender,
) -> VerificationRead | JSONResponse:
    if body.code is None:
        sent = service.start_phone_verification(
            session=session, clock=clock, keys=ctx.keys, sender=sender, person_id=person_id
        )
        return _accepted(ChallengeRead.of_sms(sent))
    if not body.challenge_id:
        raise InvalidInput("缺少验证请求标识", code="identity.missing_challenge")
    outcome = service.complete_phone_verification(
        session=session,
        clock=clock,
        keys=ctx.keys,
        person_id=person_id,
        challenge_id=body.challenge_id,
        code=body.code,
    )
    return VerificationRead.of(outcome)


def _accepted(body: ChallengeRead) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


@_api.post(
    "/face-assertions",
    summary="人脸核验服务回传签名断言（SM2）",
    responses=_ERRORS,
)
def face_assertion(
    body: AssertionPost, session: SessionDep, clock: ClockDep, ctx: ContextDep
) -> VerificationRead:
    outcome = service.accept_face_assertion(
        session=session, clock=clock, config=ctx.config, assertion=body.assertion
    )
    return VerificationRead.of(outcome)


@_api.post(
    "/organisations",
    status_code=status.HTTP_201_CREATED,
    summary="法人注册（当前自然人为法定代表人）",
    responses=_ERRORS,
)
def register_organisation(
    body: OrganisationCreate, current: CurrentPersonDep, session: SessionDep, clock: ClockDep
) -> OrganisationRead:
    record = service.register_organisation(
        session=session,
        clock=clock,
        name=body.name,
        uscc=body.uscc,
        legal_rep_id=current,
        actor=f"person:{current}",
    )
    return OrganisationRead.of(record)


@_api.post(
    "/organisations/{legal_person_id}/verifications/enterprise",
    summary="法人核验（名称、统一社会信用代码、法定代表人）",
    responses=_ERRORS,
)
def verify_organisation(
    legal_person_id: str,
    current: CurrentPersonDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: ContextDep,
    verifiers: VerifiersDep,
) -> VerificationRead:
    org = service.get_organisation(session=session, legal_person_id=legal_person_id)
    _same_person(org.legal_rep_id, current)
    outcome = service.verify_enterprise(
        session=session,
        clock=clock,
        keys=ctx.keys,
        verifiers=verifiers,
        legal_person_id=legal_person_id,
    )
    return VerificationRead.of(outcome)


def _agent_id(body: AgentGrantCreate, session: SessionDep, ctx: ContextDep) -> str:
    if body.agent_id:
        return body.agent_id
    if body.agent_phone:
        from identity.service_accounts import find_person_by_login

        kind, row = find_person_by_login(session=session, keys=ctx.keys, login=body.agent_phone)
        if kind != "phone" or row is None:
            raise PersonNotFound("未找到该手机号注册的账户")
        return row.id
    raise InvalidInput("请指定经办人账户或手机号", code="identity.missing_agent")


@_api.post(
    "/organisations/{legal_person_id}/agents",
    status_code=status.HTTP_201_CREATED,
    summary="法定代表人授权经办人",
    responses=_ERRORS,
)
def grant_agent(
    legal_person_id: str,
    body: AgentGrantCreate,
    current: CurrentPersonDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: ContextDep,
) -> AuthorisationRead:
    record = service.grant_agent(
        session=session,
        clock=clock,
        legal_person_id=legal_person_id,
        granted_by=current,
        agent_id=_agent_id(body, session, ctx),
        scopes=body.scopes,
        not_before=body.not_before,
        not_after=body.not_after,
    )
    return AuthorisationRead.of(record)


@_api.get(
    "/organisations/{legal_person_id}/agents",
    summary="经办人授权列表（法定代表人）",
    responses=_ERRORS,
)
def list_agents(
    legal_person_id: str, current: CurrentPersonDep, session: SessionDep
) -> list[AuthorisationRead]:
    org = service.get_organisation(session=session, legal_person_id=legal_person_id)
    _same_person(org.legal_rep_id, current)
    return [
        AuthorisationRead.of(a)
        for a in service.list_agents(session=session, legal_person_id=legal_person_id)
    ]


@_api.delete(
    "/organisations/{legal_person_id}/agents/{authorisation_id}",
    summary="撤销经办人授权",
    responses=_ERRORS,
)
def revoke_agent(
    legal_person_id: str,
    authorisation_id: str,
    current: CurrentPersonDep,
    session: SessionDep,
    clock: ClockDep,
) -> AuthorisationRead:
    record = service.revoke_agent(
        session=session,
        clock=clock,
        legal_person_id=legal_person_id,
        authorisation_id=authorisation_id,
        revoked_by=current,
    )
    return AuthorisationRead.of(record)


@_api.get("/dev/sms-outbox", include_in_schema=False, response_class=HTMLResponse)
def sms_outbox(session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """Development only: the SMS messages the outbox sender stored (404 in production)."""
    if settings.environment == "production":
        raise NotFound("Not Found", code="identity.dev_only")
    rows = "".join(
        f"<tr><td>{html.escape(m.created_at.isoformat())}</td><td>{html.escape(m.phone)}</td>"
        f"<td>{html.escape(m.body)}</td></tr>"
        for m in outbox_messages(session=session)
    )
    page = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>短信发件箱（开发）</title>'
        "<body><h1>短信发件箱（仅开发环境）</h1><p>开发环境不真正发送短信，消息保存在此。</p>"
        f"<table><tr><th>时间</th><th>手机</th><th>内容</th></tr>{rows}</table></body></html>"
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


router.include_router(_api)
router.include_router(sim_router, prefix="/sim")
router.include_router(person_router)  # /account/login; registers the trust.web.person provider
