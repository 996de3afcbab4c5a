"""The administration API: who may do what, and secrets shown exactly once."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import TestClient, assert_problem
from tests.factories.principals import Staff, basic, make_org, make_uscc
from trust.clock import FixedClock
from trust.principals.records import OrganisationRecord


def test_system_admin_registers_and_lists_organisations(client: TestClient, root: Staff) -> None:
    code = make_uscc()
    created = client.post(
        "/admin/organisations",
        json={"name": "某市数据局", "uscc": code, "kind": "department"},
        headers=root.headers,
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["uscc"] == code
    assert org["kind"] == "department"
    listed = client.get("/admin/organisations", headers=root.headers).json()
    assert [o["id"] for o in listed] == [org["id"]]


def test_org_admin_manages_users_and_roles_in_own_organisation(
    client: TestClient, org_admin: Staff, org: OrganisationRecord
) -> None:
    created = client.post(
        f"/admin/organisations/{org.id}/users",
        json={"login": "seal.keeper", "display_name": "印章管理员", "roles": ["seal_custodian"]},
        headers=org_admin.headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["grants"] == [{"role": "seal_custodian", "organisation_id": org.id}]

    granted = client.post(
        f"/admin/users/{user['id']}/roles",
        json={"role": "auditor", "organisation_id": org.id},
        headers=org_admin.headers,
    )
    assert granted.status_code == 200, granted.text
    assert {g["role"] for g in granted.json()["grants"]} == {"seal_custodian", "auditor"}

    revoked = client.delete(
        f"/admin/users/{user['id']}/roles",
        params={"role": "seal_custodian", "organisation_id": org.id},
        headers=org_admin.headers,
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["grants"] == [{"role": "auditor", "organisation_id": org.id}]


def test_org_admin_cannot_reach_other_organisations_or_grant_system_admin(
    client: TestClient,
    org_admin: Staff,
    db: sessionmaker[Session],
    clock: FixedClock,
    org: OrganisationRecord,
) -> None:
    with db() as session, session.begin():
        other = make_org(session, clock, name="另一部门")
    new_user = {"login": "x.y", "display_name": "某人"}
    response = client.post(
        f"/admin/organisations/{other.id}/users", json=new_user, headers=org_admin.headers
    )
    assert_problem(response, 403, "auth.role_required")
    response = client.post(
        f"/admin/organisations/{org.id}/users",
        json={**new_user, "roles": ["system_admin"]},
        headers=org_admin.headers,
    )
    assert_problem(response, 403, "auth.role_required")
    response = client.post(
        f"/admin/users/{org_admin.user_id}/roles",
        json={"role": "admin", "organisation_id": other.id},
        headers=org_admin.headers,
    )
    assert_problem(response, 403, "auth.role_required")
    response = client.post(
        "/admin/clients",
        json={"organisation_id": other.id, "name": "x"},
        headers=org_admin.headers,
    )
    assert_problem(response, 403, "auth.role_required")


def test_role_scope_errors_are_400(
    client: TestClient, root: Staff, org: OrganisationRecord
) -> None:
    response = client.post(
        f"/admin/users/{root.user_id}/roles",
        json={"role": "system_admin", "organisation_id": org.id},
        headers=root.headers,
    )
    assert_problem(response, 400, "principals.role_scope")
    response = client.post(
        f"/admin/users/{root.user_id}/roles", json={"role": "root"}, headers=root.headers
    )
    assert_problem(response, 422, "request.invalid")


def test_client_secret_is_shown_once_and_rotates(
    client: TestClient, org_admin: Staff, org: OrganisationRecord
) -> None:
    created = client.post(
        "/admin/clients",
        json={"organisation_id": org.id, "name": "电子证照系统", "roles": ["licence_issuer"]},
        headers=org_admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["roles"] == ["licence_issuer"]
    cid, secret = body["client_id"], body["client_secret"]
    whoami = client.get("/whoami", headers=basic(cid, secret))
    assert whoami.json()["display"] == "电子证照系统"

    rotated = client.post(f"/admin/clients/{cid}/secret", headers=org_admin.headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret != secret
    assert_problem(
        client.get("/whoami", headers=basic(cid, secret)), 401, "auth.invalid_credentials"
    )
    assert client.get("/whoami", headers=basic(cid, new_secret)).status_code == 200


def test_clients_cannot_get_admin_roles(
    client: TestClient, org_admin: Staff, org: OrganisationRecord
) -> None:
    response = client.post(
        "/admin/clients",
        json={"organisation_id": org.id, "name": "x", "roles": ["admin"]},
        headers=org_admin.headers,
    )
    assert_problem(response, 400, "principals.client_role_refused")


def test_unknown_client_rotation_is_403_unless_system_admin(
    client: TestClient, org_admin: Staff, root: Staff
) -> None:
    path = "/admin/clients/cli_000000000000000000000000/secret"
    assert_problem(client.post(path, headers=org_admin.headers), 403, "auth.role_required")
    assert_problem(client.post(path, headers=root.headers), 404, "principals.client_not_found")


def test_a_service_client_is_not_an_administrator(
    client: TestClient, org_admin: Staff, org: OrganisationRecord
) -> None:
    body = client.post(
        "/admin/clients",
        json={"organisation_id": org.id, "name": "x", "roles": ["seal_user"]},
        headers=org_admin.headers,
    ).json()
    response = client.get(
        "/admin/organisations", headers=basic(body["client_id"], body["client_secret"])
    )
    assert_problem(response, 403, "auth.role_required")
