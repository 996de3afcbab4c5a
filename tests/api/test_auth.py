"""The one authentication dependency: client credentials (Basic), staff API tokens (Bearer),
uniform failures, and failure back-off kept in the database (shared by every process)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import TestClient, assert_problem
from tests.factories.principals import Staff, basic, make_client, make_staff
from trust.clock import FixedClock
from trust.db import make_engine, session_factory
from trust.principals.records import ClientIssued, OrganisationRecord
from trust.principals.roles import Role
from trust.web.ratelimit_model import RateCounter

LIMIT = 3


@pytest.fixture
def issued(db: sessionmaker[Session], clock: FixedClock, org: OrganisationRecord) -> ClientIssued:
    with db() as session, session.begin():
        return make_client(session, clock, org_id=org.id, roles=(Role.LICENCE_ISSUER,))


@pytest.fixture
def strict(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app(auth_failure_limit=LIMIT, auth_failure_window_seconds=60)


def _counters(db: sessionmaker[Session]) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(RateCounter)) or 0)


def test_basic_client_credentials(client: TestClient, issued: ClientIssued) -> None:
    response = client.get("/whoami", headers=basic(issued.client.client_id, issued.client_secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "client"
    assert body["id"] == issued.client.client_id
    assert body["authenticated_by"] == "basic"
    assert body["grants"] == [
        {"role": "licence_issuer", "organisation_id": issued.client.organisation_id}
    ]


def test_basic_parts_may_be_form_urlencoded(client: TestClient, issued: ClientIssued) -> None:
    # RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded before Basic.
    secret = issued.client_secret.replace("-", "%2D")
    response = client.get("/whoami", headers=basic(issued.client.client_id, secret))
    assert response.status_code == 200


def test_bearer_staff_token(client: TestClient, org_admin: Staff, org: OrganisationRecord) -> None:
    response = client.get("/whoami", headers=org_admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "user"
    assert body["id"] == org_admin.user_id
    assert body["authenticated_by"] == "bearer"
    assert body["grants"] == [{"role": "admin", "organisation_id": org.id}]


def test_success_writes_nothing(
    client: TestClient, issued: ClientIssued, db: sessionmaker[Session]
) -> None:
    for _ in range(3):
        client.get("/whoami", headers=basic(issued.client.client_id, issued.client_secret))
    assert _counters(db) == 0


def _attempts(issued: ClientIssued, staff: Staff) -> list[dict[str, str]]:
    token_id = staff.token.split(".")[0]
    return [
        basic(issued.client.client_id, issued.client_secret + "x"),  # wrong secret
        basic("cli_0000000000000000000000000", issued.client_secret),  # unknown client
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Bearer " + token_id + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"Authorization": "Bearer not-a-token"},
    ]


def test_every_bad_credential_looks_the_same(
    client: TestClient, issued: ClientIssued, org_admin: Staff
) -> None:
    bodies = []
    for headers in _attempts(issued, org_admin):
        response = client.get("/whoami", headers=headers)
        problem = assert_problem(response, 401, "auth.invalid_credentials")
        assert len(response.headers.get_list("www-authenticate")) == 2
        bodies.append((problem["title"], problem["detail"]))
    assert len(set(bodies)) == 1


def test_unsupported_scheme(client: TestClient) -> None:
    response = client.get("/whoami", headers={"Authorization": "Digest username=x"})
    assert_problem(response, 401, "auth.unsupported_scheme")


def test_expired_token(client: TestClient, db: sessionmaker[Session], clock: FixedClock) -> None:
    with db() as session, session.begin():
        staff = make_staff(session, clock, login="short.lived", days=1)
    assert client.get("/whoami", headers=staff.headers).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    assert_problem(client.get("/whoami", headers=staff.headers), 401, "auth.invalid_credentials")


def test_failures_back_off_with_429_and_retry_after(
    strict: FastAPI, issued: ClientIssued, clock: FixedClock
) -> None:
    wrong = basic(issued.client.client_id, "wrong-secret-wrong-secret-wrong")
    right = basic(issued.client.client_id, issued.client_secret)
    with TestClient(strict) as client:
        for _ in range(LIMIT):
            assert client.get("/whoami", headers=wrong).status_code == 401
        blocked = client.get("/whoami", headers=wrong)
        problem = assert_problem(blocked, 429, "auth.too_many_failures")
        retry_after = int(blocked.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert problem["retry_after"] == retry_after
        # The right secret does not bypass the back-off while it lasts ...
        assert client.get("/whoami", headers=right).status_code == 429
        # ... and when the window is over, it works again.
        clock.advance(timedelta(seconds=retry_after))
        assert client.get("/whoami", headers=right).status_code == 200


def test_per_client_counting_across_ips(strict: FastAPI, issued: ClientIssued) -> None:
    wrong = basic(issued.client.client_id, "wrong-secret-wrong-secret-wrong")
    for n in range(LIMIT):
        with TestClient(strict, client=(f"198.51.100.{n}", 1000)) as client:
            assert client.get("/whoami", headers=wrong).status_code == 401
    with TestClient(strict, client=("198.51.100.99", 1000)) as fresh_ip:
        assert_problem(fresh_ip.get("/whoami", headers=wrong), 429, "auth.too_many_failures")
        # Other clients from that IP are unaffected.
        assert fresh_ip.get("/healthz").status_code == 200


def test_per_ip_counting_across_clients(strict: FastAPI, issued: ClientIssued) -> None:
    with TestClient(strict, client=("203.0.113.7", 1000)) as client:
        for n in range(LIMIT):
            response = client.get("/whoami", headers=basic(f"cli_guess{n:020d}", "x" * 43))
            assert response.status_code == 401
        right = basic(issued.client.client_id, issued.client_secret)
        assert_problem(client.get("/whoami", headers=right), 429, "auth.too_many_failures")
    with TestClient(strict, client=("203.0.113.8", 1000)) as other_ip:
        assert other_ip.get("/whoami", headers=right).status_code == 200


def _second_engine(engine: Engine, database_url: str) -> Engine:
    """Another engine, with its own pool, on the same database (and schema) as ``engine``."""
    if database_url.startswith("sqlite"):
        return make_engine(database_url)
    with engine.connect() as conn:
        search_path = str(conn.execute(text("SHOW search_path")).scalar_one())
    return make_engine(database_url, search_path=search_path.strip('"'))


def test_back_off_is_shared_between_app_instances(
    make_app: Callable[..., FastAPI],
    issued: ClientIssued,
    engine: Engine,
    database_url: str,
) -> None:
    """Two apps as two ``trustctl serve`` processes would be: separate engines and pools on one
    database. Failures counted by one block the other, so nothing is kept in process memory."""
    other = _second_engine(engine, database_url)
    one = make_app(auth_failure_limit=LIMIT)
    two = make_app(factory=session_factory(other), auth_failure_limit=LIMIT)
    wrong = basic(issued.client.client_id, "wrong-secret-wrong-secret-wrong")
    try:
        with TestClient(one) as first, TestClient(two) as second:
            for _ in range(LIMIT):
                assert first.get("/whoami", headers=wrong).status_code == 401
            assert_problem(second.get("/whoami", headers=wrong), 429, "auth.too_many_failures")
    finally:
        other.dispose()


def test_malformed_basic_is_counted_per_ip(strict: FastAPI) -> None:
    raw = base64.b64encode(b"no-colon-here").decode()
    with TestClient(strict) as client:
        for _ in range(LIMIT):
            response = client.get("/whoami", headers={"Authorization": f"Basic {raw}"})
            assert_problem(response, 401, "auth.invalid_credentials")
        assert client.get("/whoami", headers={"Authorization": f"Basic {raw}"}).status_code == 429


def test_old_failure_counters_are_purged(
    strict: FastAPI, db: sessionmaker[Session], clock: FixedClock
) -> None:
    wrong = basic("cli_0000000000000000000000000", "x" * 43)
    with TestClient(strict) as client:
        client.get("/whoami", headers=wrong)
        assert _counters(db) == 2  # per IP and per client id
        clock.advance(timedelta(seconds=180))  # three windows later
        client.get("/whoami", headers=wrong)
    assert _counters(db) == 2  # the old window's rows went, the new ones are there
