"""The identity routes in the real app (``create_app``), with the simulated registry reached
through an ASGI transport and the current person set by a test-only dependency override."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker

from identity.api import get_verifiers
from identity.sim_data import SimRegistryData
from identity.verifiers import build_verifiers
from identity.web_session import (
    COOKIE_NAME,
    current_person_id,
    identity_context,
    issue_person_session,
)
from tests.api._support import TestClient, assert_problem
from trust.clock import FixedClock
from trust.config import Settings
from trust.web.app import create_app


class _Who:
    person_id: str = ""


@pytest.fixture
def who() -> _Who:
    return _Who()


@pytest.fixture
def app(
    settings: Settings,
    db: sessionmaker[Session],
    clock: FixedClock,
    sim_client: TestClient,
    who: _Who,
) -> FastAPI:
    application = create_app(settings, clock=clock)
    application.state.session_factory = db

    def verifiers_over_sim(request: Request) -> Iterator[Any]:
        yield build_verifiers(identity_context(request).config, sim_client)

    application.dependency_overrides[get_verifiers] = verifiers_over_sim
    application.dependency_overrides[current_person_id] = lambda: who.person_id
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _register(client: TestClient, citizen: Any, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/identity/persons",
        json={
            "name": citizen.name,
            "id_number": citizen.id_number,
            "phone": citizen.phone,
            "password": "correct horse battery",
        }
        | extra,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert citizen.id_number not in response.text
    return body


def test_registration_and_edge_validation(client: TestClient, sim_data: SimRegistryData) -> None:
    c = sim_data.citizens[0]
    body = _register(client, c)
    assert body["proofing_level"] == 1
    assert body["id_number_masked"].endswith(c.id_number[-2:])
    assert_problem(
        client.post(
            "/identity/persons",
            json={
                "name": "张三",
                "id_number": c.id_number[:17] + ("0" if c.id_number[17] != "0" else "1"),
                "phone": "13800000000",
            },
        ),
        400,
        "citizen_id.bad_check_char",
    )
    assert_problem(
        client.post(
            "/identity/persons",
            json={"name": c.name, "id_number": c.id_number, "phone": "13800000000"},
        ),
        409,
        "identity.id_number_taken",
    )
    assert_problem(client.post("/identity/persons", json={"name": 1}), 422, "request.invalid")


def test_verification_routes(
    client: TestClient, who: _Who, sim_data: SimRegistryData, sim_client: TestClient
) -> None:
    c = sim_data.citizens[0]
    who.person_id = _register(client, c)["id"]
    base = f"/identity/persons/{who.person_id}/verifications"
    population = client.post(f"{base}/population", json={})
    assert population.status_code == 200, population.text
    assert population.json()["proofing_level"] == 2
    started = client.post(f"{base}/phone", json={})
    assert started.status_code == 202
    outbox = client.get("/identity/dev/sms-outbox")
    assert outbox.status_code == 200
    code = re.search(r"验证码 (\d{6})", outbox.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        f"{base}/phone", json={"challenge_id": started.json()["challenge_id"], "code": code}
    )
    assert done.json()["passed"] is True
    face = client.post(f"{base}/face", json={})
    assert face.status_code == 202
    capture_path = (
        face.json()["next_url"].removeprefix("http://127.0.0.1:8000").replace("/capture", "")
        + "/capture"
    )
    assertion = sim_client.post(capture_path, json={"presented_face": c.face_template}).json()
    posted = client.post("/identity/face-assertions", json={"assertion": assertion["assertion"]})
    assert posted.status_code == 200, posted.text
    assert posted.json()["proofing_level"] == 3
    replay = client.post("/identity/face-assertions", json={"assertion": assertion["assertion"]})
    assert_problem(replay, 422, "identity.assertion_replayed")
    assert_problem(
        client.post("/identity/face-assertions", json={"assertion": "a.b.c"}),
        422,
        "identity.assertion_malformed",
    )
    assert_problem(client.post(f"{base}/bank_card", json={}), 400, "identity.missing_card_number")
    assert client.post(f"{base}/unknown_kind", json={}).status_code == 422
    who.person_id = "psn_someoneelse"
    assert_problem(client.post(f"{base}/population", json={}), 403, "identity.not_your_account")


def test_organisation_and_agent_routes(
    client: TestClient, who: _Who, clock: FixedClock, sim_data: SimRegistryData
) -> None:
    firm = sim_data.enterprises[0]
    rep_c = sim_data.citizen(firm.legal_rep_id_number)
    assert rep_c is not None
    agent = _register(client, sim_data.citizens[9])
    who.person_id = _register(client, rep_c)["id"]
    org = client.post("/identity/organisations", json={"name": firm.name, "uscc": firm.uscc})
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    verified = client.post(f"/identity/organisations/{org_id}/verifications/enterprise")
    assert verified.json()["passed"] is True
    until = (clock.now() + timedelta(days=30)).isoformat()
    grant = client.post(
        f"/identity/organisations/{org_id}/agents",
        json={
            "agent_phone": sim_data.citizens[9].phone,
            "scopes": ["licence:apply"],
            "not_after": until,
        },
    )
    assert grant.status_code == 201, grant.text
    assert grant.json()["agent_id"] == agent["id"]
    listed = client.get(f"/identity/organisations/{org_id}/agents")
    assert [a["id"] for a in listed.json()] == [grant.json()["id"]]
    who.person_id = agent["id"]
    me = client.get("/identity/me").json()
    assert me["acting_for"][0]["role"] == "agent"
    assert_problem(
        client.post(
            f"/identity/organisations/{org_id}/agents",
            json={"agent_id": agent["id"], "scopes": ["seal:use"], "not_after": until},
        ),
        403,
        "identity.not_legal_representative",
    )
    who.person_id = org.json()["legal_rep_id"]
    revoked = client.delete(f"/identity/organisations/{org_id}/agents/{grant.json()['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert_problem(
        client.post(
            "/identity/organisations", json={"name": "某公司", "uscc": "91350100M000100Y44"}
        ),
        400,
        "uscc.bad_check_char",
    )


def test_dev_pages_refused_in_production(app: FastAPI, client: TestClient) -> None:
    sim = client.get("/sim/")
    assert sim.status_code == 200
    assert "模拟数据 / SIMULATED" in sim.text
    assert client.get("/sim/health").json()["simulated"] is True
    app.state.settings = app.state.settings.model_copy(update={"environment": "production"})
    assert client.get("/identity/dev/sms-outbox").status_code == 404
    assert client.get("/sim/").status_code == 404


def test_interim_session_cookie(
    app: FastAPI, client: TestClient, clock: FixedClock, sim_data: SimRegistryData
) -> None:
    person_id = _register(client, sim_data.citizens[2])["id"]
    del app.dependency_overrides[current_person_id]
    assert_problem(client.get("/identity/me"), 401, "identity.no_session")
    keys = identity_context(_Req(app)).keys  # type: ignore[arg-type]
    cookie = issue_person_session(keys, person_id, now=clock.now())
    client.cookies.set(COOKIE_NAME, cookie)
    assert client.get("/identity/me").json()["person"]["id"] == person_id
    client.cookies.set(COOKIE_NAME, cookie[:-2] + "AA")
    assert_problem(client.get("/identity/me"), 401, "identity.no_session")
    client.cookies.set(
        COOKIE_NAME, issue_person_session(keys, person_id, now=clock.now() - timedelta(days=1))
    )
    assert_problem(client.get("/identity/me"), 401, "identity.no_session")


class _Req:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
