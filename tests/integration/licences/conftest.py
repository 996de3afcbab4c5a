"""The real app on the test database with an initialised CA, an issuing department with an
active 行政审批专用章, its issuer (staff bearer token), its service client (licence_issuer), an
outsider, and the demo licence catalogue: the ``lic`` fixture of the licence HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from licences import service
from seals import service as seals_service
from seals.lifecycle import SealType
from seals.service import SealApplication
from tests.api._support import TestClient
from tests.factories.principals import Staff, basic, make_client, make_org, make_staff, make_uscc
from tests.integration.ca._web import build_app, client_for, init_ca
from trust.cli.licence import DEMO_TYPES
from trust.clock import FixedClock
from trust.config import Settings
from trust.db import Base
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import Grant, Role

BUSINESS = DEMO_TYPES[0].code  # 营业执照 (legal person, long-term)
FOOD = DEMO_TYPES[1].code  # 食品经营许可证 (5 years)
LAWYER = DEMO_TYPES[4].code  # 律师执业证 (natural person)
CITIZEN_ID = "11010519491231002X"  # GB 11643's own example


def business_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type_code": BUSINESS,
        "holder_name": "长沙市某某建筑工程有限公司",
        "holder_code": make_uscc(),
        "fields": {
            "entity_type": "有限责任公司",
            "legal_representative": "王五",
            "registered_capital": "伍佰万元整",
            "established_on": "2019-03-02",
            "address": "长沙市岳麓区某路 8 号",
            "business_scope": "房屋建筑工程施工。",
        },
    }
    body.update(changes)
    return body


def make_seal(db: sessionmaker[Session], app: FastAPI, clock: FixedClock, org_id: str) -> str:
    custodian = Principal(
        kind=PrincipalKind.USER,
        id="usr_custodian",
        display="测试印章管理员",
        organisation_id=None,
        grants=frozenset({Grant(Role.SEAL_CUSTODIAN, org_id)}),
        authenticated_by="bearer",
    )
    settings: Settings = app.state.settings
    with db() as s, s.begin():
        record = seals_service.apply_seal(
            session=s,
            clock=clock,
            principal=custodian,
            application=SealApplication(
                organisation_id=org_id,
                seal_type=SealType.ADMIN_APPROVAL,
                name="某市市场监督管理局行政审批专用章",
                reason="发证",
            ),
        )
        seals_service.make_seal(
            session=s,
            clock=clock,
            keystore=app.state.keystore,
            settings=settings,
            principal=custodian,
            seal_id=record.id,
            reason="制章",
        )
        seals_service.activate_seal(
            session=s, clock=clock, principal=custodian, seal_id=record.id, reason="启用"
        )
    return record.id


@dataclass
class Lic:
    client: TestClient
    app: FastAPI
    org_id: str
    org_uscc: str
    issuer: Staff
    outsider: Staff
    auditor: Staff
    system: dict[str, str]
    issued: list[dict[str, Any]] = field(default_factory=list)

    def issue(self, body: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
        r = self.client.post(
            "/licences", json=body or business_body(), headers={**self.issuer.headers, **headers}
        )
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        self.issued.append(data)
        return data

    def verify_code(self, code: str) -> dict[str, Any]:
        r = self.client.post("/licences/verify/code", json={"code": code})
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def verify_qr(self, payload: str) -> dict[str, Any]:
        r = self.client.post("/licences/verify/qr", json={"payload": payload})
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def pdf(self, ref: str) -> bytes:
        r = self.client.get(f"/licences/{ref}/document.pdf", headers=self.issuer.headers)
        assert r.status_code == 200, r.text
        return bytes(r.content)


@pytest.fixture
def app(settings: Settings, db: sessionmaker[Session], clock: FixedClock) -> FastAPI:
    built = build_app(settings, db, clock)
    Base.metadata.create_all(db.kw["bind"])
    built.state.licences_verify_limits = (10_000, 10_000)
    return built


@pytest.fixture
def lic(
    app: FastAPI, db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> Iterator[Lic]:
    init_ca(app, db, clock, settings)
    with db() as s, s.begin():
        org = make_org(s, clock, name="某市市场监督管理局")
        other = make_org(s, clock, name="另一个局")
        issuer = make_staff(s, clock, login="issuer", role=Role.LICENCE_ISSUER, org_id=org.id)
        outsider = make_staff(s, clock, login="outsider", role=Role.LICENCE_ISSUER, org_id=other.id)
        auditor = make_staff(s, clock, login="auditor", role=Role.AUDITOR, org_id=org.id)
        issued = make_client(s, clock, org_id=org.id, roles=(Role.LICENCE_ISSUER,))
        for spec in DEMO_TYPES:
            service.register_type(session=s, clock=clock, spec=spec, actor="test")
    make_seal(db, app, clock, org.id)
    with client_for(app) as client:
        yield Lic(
            client,
            app,
            org.id,
            org.uscc,
            issuer,
            outsider,
            auditor,
            basic(issued.client.client_id, issued.client_secret),
        )
