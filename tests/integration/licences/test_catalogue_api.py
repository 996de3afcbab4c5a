"""The catalogue over HTTP: public reads; registering a type is for system administrators and
checks the GB/T 36902 type code (defining authority's USCC + 3 digits)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import assert_problem
from tests.factories.principals import make_staff
from tests.integration.licences.conftest import Lic
from trust.clock import FixedClock
from trust.principals.roles import Role


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "11100000000013338W011",
        "name": "建筑业企业资质证书",
        "defining_authority_name": "住房和城乡建设部",
        "holder_kind": "legal",
        "fields": [
            {"name": "level", "label": "资质等级", "type": "choice", "choices": ["一级", "二级"]},
            {"name": "scope", "label": "资质范围", "max_length": 300},
        ],
        "validity": "years",
        "validity_years": 5,
        "number_prefix": "D",
    }
    body.update(changes)
    return body


def test_catalogue_reads_are_public(lic: Lic) -> None:
    types = lic.client.get("/licences/types").json()
    assert {t["name"] for t in types} >= {"营业执照", "食品经营许可证", "律师执业证"}
    one = lic.client.get(f"/licences/types/{types[0]['code']}")
    assert one.status_code == 200
    assert one.json()["defining_authority_code"] == types[0]["code"][:18]
    assert_problem(lic.client.get("/licences/types/nope"), 404, "licence.type_not_found")


def test_system_admin_registers_a_type(
    lic: Lic, db: sessionmaker[Session], clock: FixedClock
) -> None:
    with db() as s, s.begin():
        admin = make_staff(s, clock, login="root", role=Role.SYSTEM_ADMIN)
    r = lic.client.post("/licences/types", json=_body(), headers=lic.issuer.headers)
    assert_problem(r, 403, "auth.role_required")
    r = lic.client.post("/licences/types", json=_body(), headers=admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["fields"][0]["choices"] == ["一级", "二级"]
    again = lic.client.post("/licences/types", json=_body(), headers=admin.headers)
    assert again.status_code == 201  # same definition: idempotent
    changed = lic.client.post("/licences/types", json=_body(name="别的证"), headers=admin.headers)
    assert_problem(changed, 400, "licence.request.type_exists")
    bad = lic.client.post(
        "/licences/types", json=_body(code="11100000000013338X011"), headers=admin.headers
    )
    assert_problem(bad, 400, "licence.request.invalid")
    bad_kind = lic.client.post(
        "/licences/types", json=_body(holder_kind="robot"), headers=admin.headers
    )
    assert_problem(bad_kind, 400, "licence.request.type")
