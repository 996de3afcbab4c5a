"""API shapes of the principals administration (pydantic only; converted from service records)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from trust.principals.principal import Principal
from trust.principals.records import ClientIssued, OrganisationRecord, UserRecord
from trust.principals.roles import Grant, OrgKind, Role

__all__ = [
    "ClientCreate",
    "ClientSecretRead",
    "GrantRead",
    "OrganisationCreate",
    "OrganisationRead",
    "PrincipalRead",
    "RoleGrantCreate",
    "UserCreate",
    "UserRead",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrganisationCreate(_In):
    name: str = Field(min_length=1, max_length=200, examples=["某市市场监督管理局"])
    uscc: str = Field(
        min_length=18,
        max_length=20,
        description="统一社会信用代码 (GB 32100-2015)",
        examples=["91350100M000100Y43"],
    )
    kind: OrgKind


class OrganisationRead(BaseModel):
    id: str
    name: str
    uscc: str
    kind: OrgKind
    created_at: datetime

    @classmethod
    def of(cls, record: OrganisationRecord) -> OrganisationRead:
        return cls(
            id=record.id,
            name=record.name,
            uscc=record.uscc,
            kind=record.kind,
            created_at=record.created_at,
        )


class GrantRead(BaseModel):
    role: Role
    organisation_id: str | None

    @classmethod
    def many(cls, grants: frozenset[Grant]) -> list[GrantRead]:
        ordered = sorted(grants, key=lambda g: (g.organisation_id or "", g.role.value))
        return [cls(role=g.role, organisation_id=g.organisation_id) for g in ordered]


class UserCreate(_In):
    login: str = Field(min_length=2, max_length=64, examples=["zhang.san"])
    display_name: str = Field(min_length=1, max_length=100, examples=["张三"])
    roles: list[Role] = Field(default_factory=list, description="在该组织内授予的角色")


class UserRead(BaseModel):
    id: str
    login: str
    display_name: str
    status: str
    grants: list[GrantRead]

    @classmethod
    def of(cls, record: UserRecord) -> UserRead:
        return cls(
            id=record.id,
            login=record.login,
            display_name=record.display_name,
            status=record.status,
            grants=GrantRead.many(record.grants),
        )


class RoleGrantCreate(_In):
    role: Role
    organisation_id: str | None = Field(default=None, description="system_admin 时为空")


class ClientCreate(_In):
    organisation_id: str
    name: str = Field(min_length=1, max_length=200, examples=["不动产登记系统"])
    roles: list[Role] = Field(default_factory=list)


class ClientSecretRead(BaseModel):
    """Returned once: the secret is not stored and cannot be shown again."""

    client_id: str
    client_secret: str
    organisation_id: str
    name: str
    roles: list[Role]

    @classmethod
    def of(cls, issued: ClientIssued) -> ClientSecretRead:
        client = issued.client
        return cls(
            client_id=client.client_id,
            client_secret=issued.client_secret,
            organisation_id=client.organisation_id,
            name=client.name,
            roles=sorted(client.roles, key=lambda r: r.value),
        )


class PrincipalRead(BaseModel):
    kind: str
    id: str
    display: str
    organisation_id: str | None
    authenticated_by: str
    grants: list[GrantRead]

    @classmethod
    def of(cls, principal: Principal) -> PrincipalRead:
        return cls(
            kind=principal.kind.value,
            id=principal.id,
            display=principal.display,
            organisation_id=principal.organisation_id,
            authenticated_by=principal.authenticated_by,
            grants=GrantRead.many(principal.grants),
        )
