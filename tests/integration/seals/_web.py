"""The real app on the test database with an initialised CA, staff with seal roles and a
service client: the ``api`` fixture of the seals HTTP and page tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import TestClient
from tests.factories.principals import Staff, basic, make_client, make_org, make_staff
from tests.integration.ca._web import build_app, client_for, init_ca
from tests.unit.seals._ses_support import need_cjk_font
from trust.clock import FixedClock
from trust.config import Settings
from trust.db import Base
from trust.principals import service as principals
from trust.principals.roles import Role


@dataclass
class Api:
    client: TestClient
    org_id: str
    custodian: Staff
    custodian2: Staff
    stamper: Staff
    both: Staff  # custodian and seal user
    outsider: Staff
    system: dict[str, str]  # service client of the organisation (Basic)

    def seal(self, *, two_person_rule: bool = False, **extra: object) -> dict[str, object]:
        if "image_base64" not in extra:  # the service draws the picture
            need_cjk_font()
        body: dict[str, object] = {
            "organisation_id": self.org_id,
            "seal_type": "admin_approval",
            "name": "某市市场监督管理局行政审批专用章",
            "reason": "新设窗口",
            "two_person_rule": two_person_rule,
            **extra,
        }
        created = self.client.post("/seals", json=body, headers=self.custodian.headers)
        assert created.status_code == 201, created.text
        seal_id = created.json()["id"]
        for action in ("make", "activate"):
            r = self.client.post(
                f"/seals/{seal_id}/{action}",
                json={"reason": action},
                headers=self.custodian.headers,
            )
            assert r.status_code == 200, r.text
        data: dict[str, object] = r.json()
        return data


@pytest.fixture
def app(settings: Settings, db: sessionmaker[Session], clock: FixedClock) -> FastAPI:
    built = build_app(settings, db, clock)
    # Routers of capabilities still being built may register tables on import; create them
    # too, so that the per-test cleanup finds every table it knows.
    Base.metadata.create_all(db.kw["bind"])
    return built


@pytest.fixture
def api(
    app: FastAPI, db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> Iterator[Api]:
    init_ca(app, db, clock, settings)
    with db() as s, s.begin():
        org = make_org(s, clock)
        other = make_org(s, clock, name="另一个局")
        custodian = make_staff(s, clock, login="custodian", role=Role.SEAL_CUSTODIAN, org_id=org.id)
        custodian2 = make_staff(
            s, clock, login="custodian2", role=Role.SEAL_CUSTODIAN, org_id=org.id
        )
        stamper = make_staff(s, clock, login="stamper", role=Role.SEAL_USER, org_id=org.id)
        both = make_staff(s, clock, login="both", role=Role.SEAL_USER, org_id=org.id)
        principals.grant_role(
            session=s,
            clock=clock,
            user_id=both.user_id,
            role=Role.SEAL_CUSTODIAN,
            organisation_id=org.id,
            actor="test",
        )
        outsider = make_staff(s, clock, login="outsider", role=Role.SEAL_USER, org_id=other.id)
        issued = make_client(s, clock, org_id=org.id)
    with client_for(app) as client:
        yield Api(
            client,
            org.id,
            custodian,
            custodian2,
            stamper,
            both,
            outsider,
            basic(issued.client.client_id, issued.client_secret),
        )
