"""The role rule: exact grants per organisation; system_admin administers but does not operate."""

from __future__ import annotations

import pytest

from trust.errors import InvalidInput
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import (
    CLIENT_ROLES,
    ORGANISATION_ROLES,
    Grant,
    Role,
    check_grant_shape,
    parse_role,
    satisfies,
)

A, B = "org_a", "org_b"


def test_a_role_counts_only_in_its_organisation() -> None:
    grants = [Grant(Role.SEAL_USER, A)]
    assert satisfies(grants, Role.SEAL_USER, A)
    assert not satisfies(grants, Role.SEAL_USER, B)
    assert not satisfies(grants, Role.SEAL_CUSTODIAN, A)


def test_asking_without_an_organisation_means_in_any_organisation() -> None:
    assert satisfies([Grant(Role.AUDITOR, B)], Role.AUDITOR)
    assert not satisfies([Grant(Role.AUDITOR, B)], Role.ARCHIVIST)


def test_system_admin_administers_every_organisation() -> None:
    grants = [Grant(Role.SYSTEM_ADMIN, None)]
    assert satisfies(grants, Role.SYSTEM_ADMIN)
    assert satisfies(grants, Role.ADMIN, A)
    assert satisfies(grants, Role.ADMIN, B)


@pytest.mark.parametrize(
    "role", [Role.SEAL_CUSTODIAN, Role.SEAL_USER, Role.LICENCE_ISSUER, Role.ARCHIVIST, Role.AUDITOR]
)
def test_system_admin_holds_no_operational_role(role: Role) -> None:
    assert not satisfies([Grant(Role.SYSTEM_ADMIN, None)], role, A)


def test_organisation_admin_is_not_system_admin() -> None:
    assert not satisfies([Grant(Role.ADMIN, A)], Role.SYSTEM_ADMIN)


def test_no_grants_satisfy_nothing() -> None:
    assert not any(satisfies([], role, A) for role in Role)


def test_grant_shape() -> None:
    check_grant_shape(Role.SYSTEM_ADMIN, None)
    check_grant_shape(Role.ADMIN, A)
    with pytest.raises(InvalidInput) as err:
        check_grant_shape(Role.SYSTEM_ADMIN, A)
    assert err.value.code == "principals.role_scope"
    with pytest.raises(InvalidInput):
        check_grant_shape(Role.SEAL_USER, None)


def test_parse_role() -> None:
    assert parse_role("seal_custodian") is Role.SEAL_CUSTODIAN
    with pytest.raises(InvalidInput) as err:
        parse_role("root")
    assert err.value.code == "principals.role_unknown"


def test_clients_cannot_administer_or_keep_seals() -> None:
    assert CLIENT_ROLES <= ORGANISATION_ROLES
    assert not CLIENT_ROLES & {Role.ADMIN, Role.SEAL_CUSTODIAN, Role.SYSTEM_ADMIN}


def test_principal_roles_map_and_actor() -> None:
    principal = Principal(
        kind=PrincipalKind.USER,
        id="usr_1",
        display="张三",
        organisation_id=None,
        grants=frozenset(
            {Grant(Role.ADMIN, A), Grant(Role.AUDITOR, A), Grant(Role.SYSTEM_ADMIN, None)}
        ),
        authenticated_by="bearer",
    )
    assert principal.roles == {A: {Role.ADMIN, Role.AUDITOR}, None: {Role.SYSTEM_ADMIN}}
    assert principal.actor == "user:usr_1"
    assert principal.has_role(Role.ADMIN, B)  # through system_admin
