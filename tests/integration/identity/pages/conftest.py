"""The person's pages in the real app (``create_app``) through its ``TestClient``: several
"browsers" (TestClients with their own cookie jars) on one app, the simulated registry reached
through an ASGI transport, a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.api import get_verifiers
from identity.keying import IdentityKeys
from identity.model import SecurityEvent
from identity.oidc_service_clients import RegisteredClient, register_client
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from identity.verifiers import build_verifiers
from identity.web_session import identity_context
from tests.api._support import TestClient
from tests.integration.identity._factories import make_person
from trust.clock import FixedClock
from trust.config import Settings
from trust.web.app import create_app

DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)


@dataclass
class Site:
    app: FastAPI
    db: sessionmaker[Session]
    clock: FixedClock
    keys: IdentityKeys
    issuer: str
    browsers: list[TestClient] = field(default_factory=list)
    portals: int = 0

    def browser(self, user_agent: str = DESKTOP_UA) -> TestClient:
        """A new browser: its own cookie jar, its own User-Agent."""
        client = TestClient(
            self.app,
            base_url=self.issuer,
            raise_server_exceptions=True,
            follow_redirects=False,
            headers={"User-Agent": user_agent},
        )
        client.__enter__()
        self.browsers.append(client)
        return client

    def portal(self, name: str, **kw: Any) -> RegisteredClient:
        self.portals += 1
        redirect = kw.pop("redirect_uris", [f"http://127.0.0.1:9/portal-{self.portals}/cb"])
        with self.db() as s, s.begin():
            return register_client(
                session=s, clock=self.clock, name=name, redirect_uris=redirect, actor="test", **kw
            )

    def events(self, kind: str) -> list[SecurityEvent]:
        with self.db() as s:
            return list(s.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind)))


@pytest.fixture
def site(
    settings: Settings,
    db: sessionmaker[Session],
    clock: FixedClock,
    sim_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Site]:
    monkeypatch.setenv("TRUST_BACKCHANNEL_WORKER_SECONDS", "0")
    app = create_app(settings, clock=clock)
    app.state.session_factory = db

    def verifiers_over_sim(request: Request) -> Iterator[Any]:
        yield build_verifiers(identity_context(request).config, sim_client)

    app.dependency_overrides[get_verifiers] = verifiers_over_sim
    world = Site(
        app, db, clock, IdentityKeys.from_settings(settings), settings.public_base_url.rstrip("/")
    )
    try:
        yield world
    finally:
        for client in world.browsers:
            client.__exit__(None, None, None)


@pytest.fixture
def zhang(site: Site, sim_data: SimRegistryData) -> PersonRecord:
    """张晓明: the legal representative of 模拟数据科技有限公司 in the simulated registry."""
    with site.db() as s, s.begin():
        return make_person(s, site.clock, site.keys, sim_data.citizens[0], username="zhangsan")


@pytest.fixture
def li(site: Site, sim_data: SimRegistryData) -> PersonRecord:
    with site.db() as s, s.begin():
        return make_person(s, site.clock, site.keys, sim_data.citizens[1], username="liwenjing")
