"""Fixtures for identity on a real database, with the simulated registry reached over HTTP
through an ASGI transport (Starlette's TestClient is an ``httpx.Client``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from identity.config import IdentityConfig, load_identity_config
from identity.keying import IdentityKeys
from identity.registry_sim import SimState, sim_router
from identity.sim_data import SimRegistryData, load_sim_registry
from identity.sms import OutboxSender
from identity.verifiers import Verifiers, build_verifiers
from tests.api._support import TestClient
from trust.cli.identity import build_sim_state
from trust.clock import FixedClock
from trust.config import Settings

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def keys() -> IdentityKeys:
    return IdentityKeys.derive(bytes(range(32)))


@pytest.fixture
def config(settings: Settings) -> IdentityConfig:
    return load_identity_config(settings, environ={}, overrides={"audience": BASE})


@pytest.fixture
def sim_data() -> SimRegistryData:
    return load_sim_registry()


@pytest.fixture
def sim_state(clock: FixedClock) -> SimState:
    state = build_sim_state()
    state.clock = clock
    return state


@pytest.fixture
def sim_client(sim_state: SimState) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.identity_sim = sim_state
    app.include_router(sim_router, prefix="/sim")
    with TestClient(app, base_url=BASE) as client:
        yield client


@pytest.fixture
def verifiers(config: IdentityConfig, sim_client: TestClient) -> Verifiers:
    return build_verifiers(config, sim_client)


@pytest.fixture
def sender() -> OutboxSender:
    return OutboxSender()


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction, committed at the end of the test (like a request)."""
    with db() as s, s.begin():
        yield s


@pytest.fixture
def citizen(sim_data: SimRegistryData) -> Any:
    return sim_data.citizens[0]
