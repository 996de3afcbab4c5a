"""Administration API for organisations, staff users, roles and service clients; ``/whoami``.

``system_admin`` registers organisations; an organisation's ``admin`` (or a ``system_admin``)
manages its users, their roles in it and its service clients. Secrets are returned once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from trust.principals import service
from trust.principals.errors import ClientNotFound
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.principals.schemas import (
    ClientCreate,
    ClientSecretRead,
    OrganisationCreate,
    OrganisationRead,
    PrincipalRead,
    RoleGrantCreate,
    UserCreate,
    UserRead,
)
from trust.web.content import JSON_BODY
from trust.web.deps import ClockDep, SessionDep
from trust.web.problems import problem_responses
from trust.web.security import PrincipalDep, ensure_role, require_role

__all__ = ["router"]

router = APIRouter(tags=["principals"], dependencies=[JSON_BODY])

#: Errors every administration route may answer with (plus 401/422, added for all routes).
_ADMIN = problem_responses(400, 403, 404, 409, 415)

SystemAdmin = Annotated[Principal, Depends(require_role(Role.SYSTEM_ADMIN))]
OrgAdmin = Annotated[Principal, Depends(require_role(Role.ADMIN, org_param="org_id"))]


@router.get("/whoami", summary="当前认证主体")
def whoami(principal: PrincipalDep) -> PrincipalRead:
    return PrincipalRead.of(principal)


@router.post(
    "/admin/organisations",
    status_code=status.HTTP_201_CREATED,
    summary="登记组织（系统管理员）",
    responses=_ADMIN,
)
def create_organisation(
    body: OrganisationCreate, principal: SystemAdmin, session: SessionDep, clock: ClockDep
) -> OrganisationRead:
    record = service.create_organisation(
        session=session,
        clock=clock,
        name=body.name,
        uscc=body.uscc,
        kind=body.kind,
        actor=principal.actor,
    )
    return OrganisationRead.of(record)


@router.get("/admin/organisations", summary="组织列表（系统管理员）", responses=_ADMIN)
def list_organisations(principal: SystemAdmin, session: SessionDep) -> list[OrganisationRead]:
    return [OrganisationRead.of(r) for r in service.list_organisations(session=session)]


@router.get("/admin/organisations/{org_id}", summary="组织详情（组织管理员）", responses=_ADMIN)
def get_organisation(org_id: str, principal: OrgAdmin, session: SessionDep) -> OrganisationRead:
    return OrganisationRead.of(service.get_organisation(session=session, organisation_id=org_id))


@router.post(
    "/admin/organisations/{org_id}/users",
    status_code=status.HTTP_201_CREATED,
    summary="在组织内创建用户并授予角色（组织管理员）",
    responses=_ADMIN,
)
def create_user(
    org_id: str, body: UserCreate, principal: OrgAdmin, session: SessionDep, clock: ClockDep
) -> UserRead:
    if Role.SYSTEM_ADMIN in body.roles:
        ensure_role(principal, Role.SYSTEM_ADMIN)
    service.get_organisation(session=session, organisation_id=org_id)
    user = service.create_user(
        session=session,
        clock=clock,
        login=body.login,
        display_name=body.display_name,
        actor=principal.actor,
    )
    for role in dict.fromkeys(body.roles):
        user = service.grant_role(
            session=session,
            clock=clock,
            user_id=user.id,
            role=role,
            organisation_id=None if role is Role.SYSTEM_ADMIN else org_id,
            actor=principal.actor,
        )
    return UserRead.of(user)


@router.post("/admin/users/{user_id}/roles", summary="授予角色（组织管理员）", responses=_ADMIN)
def grant_role(
    user_id: str,
    body: RoleGrantCreate,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> UserRead:
    _ensure_may_manage(principal, body.role, body.organisation_id)
    user = service.grant_role(
        session=session,
        clock=clock,
        user_id=user_id,
        role=body.role,
        organisation_id=body.organisation_id,
        actor=principal.actor,
    )
    return UserRead.of(user)


@router.delete("/admin/users/{user_id}/roles", summary="撤销角色（组织管理员）", responses=_ADMIN)
def revoke_role(
    user_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    role: Annotated[Role, Query()],
    organisation_id: Annotated[str | None, Query()] = None,
) -> UserRead:
    _ensure_may_manage(principal, role, organisation_id)
    user = service.revoke_role(
        session=session,
        clock=clock,
        user_id=user_id,
        role=role,
        organisation_id=organisation_id,
        actor=principal.actor,
    )
    return UserRead.of(user)


@router.post(
    "/admin/clients",
    status_code=status.HTTP_201_CREATED,
    summary="创建应用客户端，密钥仅返回一次（组织管理员）",
    responses=_ADMIN,
)
def create_client(
    body: ClientCreate, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> ClientSecretRead:
    ensure_role(principal, Role.ADMIN, body.organisation_id)
    issued = service.create_client(
        session=session,
        clock=clock,
        organisation_id=body.organisation_id,
        name=body.name,
        roles=body.roles,
        actor=principal.actor,
    )
    return ClientSecretRead.of(issued)


@router.post(
    "/admin/clients/{client_id}/secret",
    summary="轮换应用客户端密钥，新密钥仅返回一次（组织管理员）",
    responses=_ADMIN,
)
def rotate_client_secret(
    client_id: str, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> ClientSecretRead:
    try:
        organisation_id = service.get_client(session=session, client_id=client_id).organisation_id
    except ClientNotFound:
        ensure_role(principal, Role.SYSTEM_ADMIN)  # only a system admin learns "no such client"
        raise
    ensure_role(principal, Role.ADMIN, organisation_id)
    issued = service.rotate_client_secret(
        session=session, clock=clock, client_id=client_id, actor=principal.actor
    )
    return ClientSecretRead.of(issued)


def _ensure_may_manage(principal: Principal, role: Role, organisation_id: str | None) -> None:
    """Service-wide grants need a system admin; organisation grants that organisation's admin."""
    if role is Role.SYSTEM_ADMIN or organisation_id is None:
        ensure_role(principal, Role.SYSTEM_ADMIN)
    else:
        ensure_role(principal, Role.ADMIN, organisation_id)
