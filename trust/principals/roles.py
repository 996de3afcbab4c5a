"""Roles and the one rule that decides whether a set of grants satisfies a required role (pure).

Roles are granted per organisation, except ``system_admin``, which is service-wide (its grant has
no organisation). ``system_admin`` administers every organisation (it satisfies ``admin``
anywhere) but holds no operational role: using seals, issuing licences, archiving and auditing are
separate duties that must be granted explicitly (separation of duties).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from trust.errors import InvalidInput

__all__ = [
    "CLIENT_ROLES",
    "ORGANISATION_ROLES",
    "Grant",
    "OrgKind",
    "Role",
    "check_grant_shape",
    "parse_role",
    "satisfies",
]


class Role(StrEnum):
    SYSTEM_ADMIN = "system_admin"  # service-wide: organisations, users, clients
    ADMIN = "admin"  # one organisation: its users, roles and service clients
    SEAL_CUSTODIAN = "seal_custodian"  # 印章管理员: makes, suspends and revokes the seals
    SEAL_USER = "seal_user"  # 用章人: stamps documents with the organisation's seals
    LICENCE_ISSUER = "licence_issuer"  # 发证人: issues and changes e-licences
    ARCHIVIST = "archivist"  # 档案员: ingests and retrieves archive packages
    AUDITOR = "auditor"  # 审计员: reads logs and records, changes nothing


class OrgKind(StrEnum):
    DEPARTMENT = "department"  # 政府部门
    COMPANY = "company"  # 企业及其他组织


#: Roles that are granted within one organisation.
ORGANISATION_ROLES: Final = frozenset(Role) - {Role.SYSTEM_ADMIN}

#: Roles a service client (a department system) may hold in its own organisation. Administration
#: and seal custody stay with named people.
CLIENT_ROLES: Final = frozenset({Role.SEAL_USER, Role.LICENCE_ISSUER, Role.ARCHIVIST, Role.AUDITOR})


@dataclass(frozen=True, slots=True)
class Grant:
    """One role, in one organisation (``None`` only for the service-wide ``system_admin``)."""

    role: Role
    organisation_id: str | None


def parse_role(unverified_role: str) -> Role:
    try:
        return Role(unverified_role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidInput(
            f"未知角色 {unverified_role!r}，可选：{known}", code="principals.role_unknown"
        ) from None


def check_grant_shape(role: Role, organisation_id: str | None) -> None:
    """``system_admin`` has no organisation; every other role needs one."""
    if role is Role.SYSTEM_ADMIN and organisation_id is not None:
        raise InvalidInput("system_admin 为全局角色，不能指定组织", code="principals.role_scope")
    if role is not Role.SYSTEM_ADMIN and organisation_id is None:
        raise InvalidInput(f"角色 {role.value} 必须指定组织", code="principals.role_scope")


def satisfies(grants: Iterable[Grant], role: Role, organisation_id: str | None = None) -> bool:
    """True if ``grants`` allow acting as ``role`` in ``organisation_id``.

    Asking for an organisation role without an organisation is asking "in any organisation".
    """
    for grant in grants:
        if grant.role is Role.SYSTEM_ADMIN and role in (Role.SYSTEM_ADMIN, Role.ADMIN):
            return True
        if grant.role is role and (
            organisation_id is None or grant.organisation_id == organisation_id
        ):
            return True
    return False
