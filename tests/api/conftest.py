"""HTTP tests: the real app from ``create_app`` on the test database, driven by TestClient.

``app.state.session_factory`` is pointed at the ``db`` fixture's factory, so that on PostgreSQL
the app sees the test run's private schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import TestClient
from tests.factories.principals import Staff, make_org, make_staff
from trust.clock import FixedClock
from trust.config import Settings
from trust.principals.records import OrganisationRecord
from trust.principals.roles import Role
from trust.web.app import create_app


@pytest.fixture
def make_app(
    settings: Settings, db: sessionmaker[Session], clock: FixedClock
) -> Callable[..., FastAPI]:
    def build(factory: sessionmaker[Session] | None = None, **overrides: Any) -> FastAPI:
        app = create_app(settings.model_copy(update=overrides), clock=clock)
        app.state.session_factory = factory or db
        return app

    return build


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def org(db: sessionmaker[Session], clock: FixedClock) -> OrganisationRecord:
    with db() as session, session.begin():
        return make_org(session, clock)


@pytest.fixture
def root(db: sessionmaker[Session], clock: FixedClock) -> Staff:
    """A service-wide system administrator with an API token."""
    with db() as session, session.begin():
        return make_staff(session, clock, login="root", role=Role.SYSTEM_ADMIN)


@pytest.fixture
def org_admin(db: sessionmaker[Session], clock: FixedClock, org: OrganisationRecord) -> Staff:
    with db() as session, session.begin():
        return make_staff(session, clock, login="org.admin", role=Role.ADMIN, org_id=org.id)
