"""Row loading and ORM-to-record conversion shared by the service and authentication modules."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trust.principals.errors import ClientNotFound, OrganisationNotFound, UserNotFound
from trust.principals.model import Organisation, RoleGrant, ServiceClient, StaffUser
from trust.principals.records import ClientRecord, OrganisationRecord, UserRecord
from trust.principals.roles import Grant, OrgKind, Role


def grants_of(session: Session, user_id: str) -> frozenset[Grant]:
    rows = session.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id))
    return frozenset(Grant(role=Role(r.role), organisation_id=r.organisation_id) for r in rows)


def client_roles(row: ServiceClient) -> frozenset[Role]:
    return frozenset(Role(r) for r in row.roles.split())


def organisation_row(session: Session, organisation_id: str) -> Organisation:
    row = session.get(Organisation, organisation_id)
    if row is None:
        raise OrganisationNotFound(f"组织 {organisation_id} 不存在")
    return row


def user_row(session: Session, user_id: str) -> StaffUser:
    row = session.get(StaffUser, user_id)
    if row is None:
        raise UserNotFound(f"用户 {user_id} 不存在")
    return row


def client_row(session: Session, client_id: str) -> ServiceClient:
    row = session.get(ServiceClient, client_id)
    if row is None:
        raise ClientNotFound(f"应用客户端 {client_id} 不存在")
    return row


def organisation_record(row: Organisation) -> OrganisationRecord:
    return OrganisationRecord(
        id=row.id, name=row.name, uscc=row.uscc, kind=OrgKind(row.kind), created_at=row.created_at
    )


def user_record(session: Session, row: StaffUser) -> UserRecord:
    return UserRecord(
        id=row.id,
        login=row.login,
        display_name=row.display_name,
        status=row.status,
        created_at=row.created_at,
        grants=grants_of(session, row.id),
    )


def client_record(row: ServiceClient) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        organisation_id=row.organisation_id,
        name=row.name,
        roles=client_roles(row),
        status=row.status,
        created_at=row.created_at,
    )
