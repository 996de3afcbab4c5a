"""OIDC integration fixtures: the real app (``create_app``) served by uvicorn on a loopback
port in a thread, on the test database (SQLite or PostgreSQL), with a settable clock that
starts at the real time (relying-party libraries check ``iat``/``exp`` against their clock)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from identity.keying import IdentityKeys
from identity.oidc_service_clients import RegisteredClient, register_client
from identity.oidc_service_context import OidcContext
from identity.oidc_settings import load_oidc_settings
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from keys.software import SoftwareKeyStore
from tests.integration.identity._factories import PASSWORD, make_person
from tests.integration.identity.oidc._agent import UserAgent
from tests.integration.identity.oidc._token_op import Op, register_portal
from trust.clock import FixedClock
from trust.config import Settings, load_settings
from trust.web.app import create_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    url: str
    clock: FixedClock
    db: sessionmaker[Session]
    settings: Settings
    keys: IdentityKeys

    def client(
        self, name: str = "演示门户", *, port_path: str = "/cb", **kw: Any
    ) -> RegisteredClient:
        redirect = kw.pop("redirect_uris", [f"http://127.0.0.1:9/{name}{port_path}"])
        with self.db() as s, s.begin():
            return register_client(
                session=s,
                clock=self.clock,
                name=name,
                redirect_uris=redirect,
                actor="test",
                **kw,
            )

    def agent(self) -> UserAgent:
        return UserAgent(self.url)


@pytest.fixture
def live(settings: Settings, db: sessionmaker[Session]) -> Iterator[Live]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    live_settings = load_settings(
        environ={},
        overrides=settings.model_dump()
        | {"public_base_url": url, "master_key": "00112233445566778899aabbccddeeff" * 2},
    )
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(live_settings, clock=clock)
    app.state.session_factory = db
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    keys = IdentityKeys.from_settings(live_settings)
    try:
        yield Live(url, clock, db, live_settings, keys)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def sim() -> SimRegistryData:
    from identity.sim_data import load_sim_registry

    return load_sim_registry()


@pytest.fixture
def person(live: Live, sim: SimRegistryData) -> PersonRecord:
    with live.db() as s, s.begin():
        return make_person(s, live.clock, live.keys, sim.citizens[0], username="zhangsan")


PASSWORD_ = PASSWORD


@pytest.fixture
def op(
    db: sessionmaker[Session],
    clock: FixedClock,
    settings: Settings,
    keys: IdentityKeys,
    sim_data: SimRegistryData,
) -> Op:
    """A registered portal and a person, for the token endpoint's tests (``_token_op``)."""
    keystore = SoftwareKeyStore.from_settings(settings)
    ctx = OidcContext(load_oidc_settings(settings), keys, keystore=keystore)
    client_id, secret = register_portal(db, clock, "门户")
    with db() as s, s.begin():
        person = make_person(s, clock, keys, sim_data.citizens[0])
    return Op(db, clock, ctx, keystore, client_id, secret, person.id)


@pytest.fixture
def statements(db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL statements sent while the test runs (BEGIN/COMMIT included where sent): through
    SQLAlchemy, and those ``trust.db_pipeline`` and ``trust.db_loop`` hand to psycopg directly
    and the code exchange to SQLite's driver directly."""
    engine: Engine = db.kw["bind"]
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    if engine.dialect.driver == "psycopg":
        import psycopg

        direct = psycopg.Connection.execute

        def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            record(None, None, str(query))
            return direct(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", execute)
        adirect = psycopg.AsyncConnection.execute

        async def aexecute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            record(None, None, str(query))
            return await adirect(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.AsyncConnection, "execute", aexecute)
    elif engine.dialect.name == "sqlite":
        from trust.db import _SQLiteConnection

        sqlite_direct = _SQLiteConnection.execute

        def sqlite_execute(self: Any, sql: str, *args: Any) -> Any:
            record(None, None, sql)
            return sqlite_direct(self, sql, *args)

        monkeypatch.setattr(_SQLiteConnection, "execute", sqlite_execute)
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)
