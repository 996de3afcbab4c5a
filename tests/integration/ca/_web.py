"""The real app (``create_app``) on the test database with an initialised CA (``ensure_ca``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import TestClient
from trust.cli.ca import CaSetup, ensure_ca
from trust.clock import FixedClock
from trust.config import Settings
from trust.web.app import create_app


def build_app(settings: Settings, db: sessionmaker[Session], clock: FixedClock) -> FastAPI:
    app = create_app(settings, clock=clock)
    app.state.session_factory = db
    return app


def init_ca(
    app: FastAPI, db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> CaSetup:
    with db() as s, s.begin():
        return ensure_ca(session=s, clock=clock, keystore=app.state.keystore, settings=settings)


@contextmanager
def client_for(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
